"""External systems (ERP, APS, MES, SRM…), their machine users and API tokens. Administrators only.

Each system writes through one machine user (``sys-<code>``, role ``integration``, no password,
no org unit). Its API tokens are that user's tokens, issued and revoked here; the clear token is
returned once by :func:`system_token_issue` and never stored.

Deactivating a system also deactivates its machine user: every token of that user is then refused
at authentication (``api_token_authenticate`` checks ``user.is_active``), so a paused system can
neither read nor post, whatever the inbound engine checks. Reactivating restores both; the tokens
that were not revoked and have not expired work again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from steelyard.core import access
from steelyard.core.models import ApiToken, AuditAction
from steelyard.core.services.audit import audit_create, audit_record, audit_update, snapshot
from steelyard.core.services.tokens import IssuedToken, api_token_create, api_token_revoke
from steelyard.integrations.models import ExternalSystem, SystemKind
from steelyard.org.models import Role, User
from steelyard.org.roles import INTEGRATION
from steelyard.org.services import user_create, user_update

MACHINE_USERNAME_PREFIX = "sys-"
SYSTEM_AUDIT_FIELDS = ["code", "name", "kind", "description", "entities", "is_active", "user_id"]
UPDATABLE_FIELDS = ("name", "kind", "description", "entities")

# Used until the inbound engine publishes its own list (steelyard.integrations.services.inbound.ENTITIES).
FALLBACK_ENTITIES: tuple[str, ...] = (
    "customer",
    "product_line",
    "product",
    "contract",
    "order",
    "order_status",
    "shipment",
    "invoice",
    "payment",
    "production",
    "capacity",
)
ENTITY_LABELS: dict[str, Any] = {
    "customer": _("Customers"),
    "product_line": _("Product lines"),
    "product": _("Products"),
    "contract": _("Contracts"),
    "order": _("Sales orders"),
    "order_status": _("Order status"),
    "shipment": _("Shipments"),
    "invoice": _("Invoices"),
    "payment": _("Payments"),
    "production": _("Production progress"),
    "capacity": _("Capacity"),
}

ERR_ADMIN_ONLY = _("Only administrators may manage external systems.")
ERR_CODE_TAKEN = _("Another system already uses this code.")
ERR_USERNAME_TAKEN = _("A user named “%(username)s” already exists; choose another code.")
ERR_UNKNOWN_ENTITIES = _("Unknown entity types: %(names)s")
ERR_CODE_FIXED = _("The code cannot be changed: the system's machine user and its tokens depend on it.")
ERR_UNKNOWN_FIELDS = _("These fields cannot be changed here: %(names)s")
ERR_SYSTEM_INACTIVE = _("This system is inactive. Activate it before issuing a token.")
ERR_TOKEN_NOT_OF_SYSTEM = _("This token does not belong to this system.")


def known_entities() -> tuple[str, ...]:
    """The entity types the inbound engine accepts (its list when ready, ours until then)."""
    try:
        from steelyard.integrations.services import inbound
    except ImportError:  # pragma: no cover - the module exists; its contents may not yet
        return FALLBACK_ENTITIES
    entities = getattr(inbound, "ENTITIES", None)
    if not entities:
        return FALLBACK_ENTITIES
    return tuple(entities)


def entity_label(entity: str) -> Any:
    return ENTITY_LABELS.get(entity, entity.replace("_", " "))


def entity_choices() -> list[tuple[str, Any]]:
    return [(e, entity_label(e)) for e in known_entities()]


def is_admin(user: Any) -> bool:
    return access.user_has_role(user, access.ADMINISTRATOR)


def require_admin(user: Any) -> None:
    if not is_admin(user):
        raise PermissionDenied(ERR_ADMIN_ONLY)


def machine_username(code: str) -> str:
    return f"{MACHINE_USERNAME_PREFIX}{code}"


def _clean_entities(entities: Iterable[str] | None) -> list[str]:
    wanted = list(dict.fromkeys(str(e).strip() for e in (entities or ()) if str(e).strip()))
    known = known_entities()
    unknown = [e for e in wanted if e not in known]
    if unknown:
        raise ValidationError({"entities": [ERR_UNKNOWN_ENTITIES % {"names": ", ".join(unknown)}]})
    # Keep the engine's order, so the same choice always reads (and audits) the same.
    return [e for e in known if e in wanted]


def _integration_role() -> Role:
    role, _created = Role.objects.get_or_create(
        code=INTEGRATION, defaults={"name": "Integration", "data_scope": "all", "is_machine": True}
    )
    return role


def _create_machine_user(*, actor: Any, system: ExternalSystem) -> User:
    username = machine_username(system.code)
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"code": [ERR_USERNAME_TAKEN % {"username": username}]})
    return user_create(
        actor=actor,
        username=username,
        display_name=system.name[:80],
        roles=[_integration_role()],
        is_machine=True,
    )


@transaction.atomic
def external_system_create(
    *,
    actor: Any,
    code: str,
    name: str,
    kind: str = SystemKind.ERP,
    description: str = "",
    entities: Iterable[str] | None = (),
) -> ExternalSystem:
    """Register a system and create its machine user (``sys-<code>``, role integration, no password)."""
    require_admin(actor)
    code = (code or "").strip().lower()
    errors: dict[str, list[Any]] = {}
    try:
        cleaned_entities = _clean_entities(entities)
    except ValidationError as exc:
        errors.update(exc.message_dict)
        cleaned_entities = []
    system = ExternalSystem(
        code=code,
        name=(name or "").strip(),
        kind=kind,
        description=(description or "").strip(),
        entities=cleaned_entities,
    )
    try:
        system.full_clean(exclude=["user"], validate_unique=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    if code and "code" not in errors and ExternalSystem.objects.filter(code__iexact=code).exists():
        errors["code"] = [ERR_CODE_TAKEN]
    if errors:
        raise ValidationError(errors)
    system.user = _create_machine_user(actor=actor, system=system)
    system.save()
    audit_create(actor=actor, obj=system, fields=SYSTEM_AUDIT_FIELDS)
    return system


@transaction.atomic
def external_system_update(*, actor: Any, system: ExternalSystem, **fields: Any) -> ExternalSystem:
    """Change a system's name, kind, description or allowed entities (the code is fixed)."""
    require_admin(actor)
    if "code" in fields:
        if (fields.pop("code") or "").strip().lower() != system.code:
            raise ValidationError({"code": [ERR_CODE_FIXED]})
    unknown = sorted(set(fields) - set(UPDATABLE_FIELDS))
    if unknown:
        raise ValidationError(ERR_UNKNOWN_FIELDS % {"names": ", ".join(unknown)})
    system = ExternalSystem.objects.select_for_update(of=("self",)).get(pk=system.pk)
    before = snapshot(system, SYSTEM_AUDIT_FIELDS)
    if "entities" in fields:
        fields["entities"] = _clean_entities(fields["entities"])
    for key in ("name", "description"):
        if key in fields:
            fields[key] = (fields[key] or "").strip()
    for key, value in fields.items():
        setattr(system, key, value)
    system.full_clean(exclude=["user"])
    system.save()
    audit_update(actor=actor, obj=system, before=before)
    if "name" in fields and system.user_id and system.user.display_name != system.name[:80]:
        user_update(actor=actor, user=system.user, display_name=system.name[:80])
    return system


@transaction.atomic
def external_system_set_active(*, actor: Any, system: ExternalSystem, active: bool) -> ExternalSystem:
    """Activate or deactivate a system; its machine user follows, so its tokens stop (or start) working."""
    require_admin(actor)
    system = ExternalSystem.objects.select_for_update(of=("self",)).select_related("user").get(pk=system.pk)
    before = snapshot(system, SYSTEM_AUDIT_FIELDS)
    system.is_active = bool(active)
    system.save(update_fields=["is_active", "updated_at"])
    audit_update(
        actor=actor,
        obj=system,
        before=before,
        verb="integrations.system.activated" if active else "integrations.system.deactivated",
    )
    if system.user_id is None and system.is_active:
        system.user = _create_machine_user(actor=actor, system=system)
        system.save(update_fields=["user", "updated_at"])
    elif system.user_id is not None and system.user.is_active != system.is_active:
        user_update(actor=actor, user=system.user, is_active=system.is_active)
    return system


def _machine_user(*, actor: Any, system: ExternalSystem) -> User:
    """The system's machine user, created when a system registered before this console has none."""
    if system.user_id is None:
        system.user = _create_machine_user(actor=actor, system=system)
        system.save(update_fields=["user", "updated_at"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            obj=system,
            verb="integrations.system.machine_user",
            changes={"user_id": [None, system.user_id]},
        )
    return system.user


@transaction.atomic
def system_token_issue(
    *, actor: Any, system: ExternalSystem, name: str, expires_in_days: int | None = None
) -> IssuedToken:
    """A new API token for the system's machine user; ``plain`` is the only time it can be seen."""
    require_admin(actor)
    system = ExternalSystem.objects.select_for_update(of=("self",)).select_related("user").get(pk=system.pk)
    if not system.is_active:
        raise ValidationError(ERR_SYSTEM_INACTIVE)
    user = _machine_user(actor=actor, system=system)
    issued = api_token_create(actor=actor, name=name, expires_in_days=expires_in_days, user=user)
    audit_record(
        actor=actor,
        action=AuditAction.ACTION,
        obj=system,
        verb="integrations.system.token_issued",
        extra={"token_id": issued.token.pk, "prefix": issued.token.prefix, "name": issued.token.name},
    )
    return issued


@transaction.atomic
def system_token_revoke(*, actor: Any, system: ExternalSystem, token: ApiToken) -> ApiToken:
    """Revoke one of the system's tokens at once (revoking a revoked token changes nothing)."""
    require_admin(actor)
    if system.user_id is None or token.user_id != system.user_id:
        raise ValidationError(ERR_TOKEN_NOT_OF_SYSTEM)
    was_revoked = token.revoked_at is not None
    token = api_token_revoke(actor=actor, token=token)
    if not was_revoked:
        audit_record(
            actor=actor,
            action=AuditAction.ACTION,
            obj=system,
            verb="integrations.system.token_revoked",
            extra={"token_id": token.pk, "prefix": token.prefix, "name": token.name},
        )
    return token
