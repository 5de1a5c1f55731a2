"""Personal API tokens: issuing, revoking, and checking them.

A token looks like ``sy_<prefix>_<secret>``: ``prefix`` (8 characters) is stored in clear so a
presented token can be found quickly; the whole token is stored only as its SHA-256. The token
is shown once, when it is created, and acts with its user's own roles and data scopes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.core import access
from steelyard.core.models import ApiToken, AuditAction
from steelyard.core.services.audit import audit_create, audit_record

TOKEN_PREFIX = "sy"
PREFIX_LENGTH = 8
SECRET_LENGTH = 32
MAX_EXPIRY_DAYS = 730
MAX_ACTIVE_TOKENS = 50
# Writing last_used_at on every request would turn each API read into a write.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
_ALPHABET = string.ascii_letters + string.digits

ERR_NAME_REQUIRED = _("Give the token a name, so you can recognise it later.")
ERR_EXPIRY_RANGE = _("A token must expire after between 1 and %(max)s days.")
ERR_TOO_MANY = _("You already have %(max)s active tokens. Revoke one you no longer use first.")
ERR_NOT_YOURS = _("You may only manage your own tokens.")
ERR_MACHINE_ONLY = _("Tokens for another user can only be issued to machine users.")
MSG_TOKEN_INVALID = _("Invalid token.")
MSG_TOKEN_EXPIRED = _("This token has expired.")
MSG_TOKEN_REVOKED = _("This token was revoked.")
MSG_TOKEN_USER_INACTIVE = _("The account this token belongs to is disabled.")


@dataclass(frozen=True)
class IssuedToken:
    """A freshly created token together with its clear text, which exists only now."""

    token: ApiToken
    plain: str


class TokenRefused(Exception):
    """A presented token cannot be used; ``message`` says why, in the user's language."""

    def __init__(self, message: Any) -> None:
        super().__init__(str(message))
        self.message = message


def token_hash(plain: str) -> str:
    return hashlib.sha256(plain.encode("utf-8")).hexdigest()


def _random(length: int) -> str:
    # Letters and digits only: url-safe, and never an underscore, which separates the parts.
    return "".join(secrets.choice(_ALPHABET) for _i in range(length))


def _split(plain: str) -> tuple[str, str] | None:
    parts = plain.strip().split("_")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    prefix, secret = parts[1], parts[2]
    if len(prefix) != PREFIX_LENGTH or len(secret) != SECRET_LENGTH:
        return None
    if not (prefix.isascii() and prefix.isalnum() and secret.isascii() and secret.isalnum()):
        return None
    return prefix, secret


@transaction.atomic
def api_token_create(
    *,
    actor: Any,
    name: str,
    expires_in_days: int | None = None,
    user: Any = None,
) -> IssuedToken:
    """Issue a token for ``actor`` (or, for an administrator, for a machine ``user``).

    The returned ``plain`` text is the only time the token can be seen.
    """
    owner = user if user is not None else actor
    if owner.pk != actor.pk:
        if not access.user_has_role(actor, access.ADMINISTRATOR):
            raise PermissionDenied(ERR_NOT_YOURS)
        if not owner.is_machine:
            raise ValidationError(ERR_MACHINE_ONLY)
    name = (name or "").strip()
    errors: dict[str, list[Any]] = {}
    if not name:
        errors["name"] = [ERR_NAME_REQUIRED]
    days = (
        expires_in_days
        if expires_in_days is not None
        else min(settings.API_TOKEN_DEFAULT_DAYS, MAX_EXPIRY_DAYS)
    )
    if not 1 <= days <= MAX_EXPIRY_DAYS:
        errors["expires_in_days"] = [ERR_EXPIRY_RANGE % {"max": MAX_EXPIRY_DAYS}]
    if errors:
        raise ValidationError(errors)
    active = api_token_active_count(user=owner)
    if active >= MAX_ACTIVE_TOKENS:
        raise ValidationError(ERR_TOO_MANY % {"max": MAX_ACTIVE_TOKENS})

    prefix = _random(PREFIX_LENGTH)
    plain = f"{TOKEN_PREFIX}_{prefix}_{_random(SECRET_LENGTH)}"
    token = ApiToken.objects.create(
        user=owner,
        name=name[:80],
        prefix=prefix,
        key_hash=token_hash(plain),
        expires_at=timezone.now() + dt.timedelta(days=days),
    )
    # Never the hash: the audit log is readable by administrators.
    audit_create(actor=actor, obj=token, fields=["user_id", "name", "prefix", "expires_at"])
    return IssuedToken(token=token, plain=plain)


def api_token_active_count(*, user: Any) -> int:
    now = timezone.now()
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=now).count()


@transaction.atomic
def api_token_revoke(*, actor: Any, token: ApiToken) -> ApiToken:
    """Revoke ``token`` at once. Revoking a revoked token changes nothing."""
    if token.user_id != actor.pk and not access.user_has_role(actor, access.ADMINISTRATOR):
        raise PermissionDenied(ERR_NOT_YOURS)
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is not None:
        return token
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=token,
        verb="api_token.revoked",
        changes={"revoked_at": [None, token.revoked_at.isoformat()]},
    )
    return token


def api_token_authenticate(plain: str) -> ApiToken:
    """The active token matching ``plain``, with its user loaded; raises ``TokenRefused`` otherwise."""
    parts = _split(plain)
    if parts is None:
        raise TokenRefused(MSG_TOKEN_INVALID)
    prefix, _secret = parts
    wanted = token_hash(plain.strip())
    match = None
    for candidate in ApiToken.objects.select_related("user").filter(prefix=prefix):
        if hmac.compare_digest(candidate.key_hash, wanted):
            match = candidate
    if match is None:
        raise TokenRefused(MSG_TOKEN_INVALID)
    if match.revoked_at is not None:
        raise TokenRefused(MSG_TOKEN_REVOKED)
    now = timezone.now()
    if match.expires_at is not None and match.expires_at <= now:
        raise TokenRefused(MSG_TOKEN_EXPIRED)
    if not match.user.is_active:
        raise TokenRefused(MSG_TOKEN_USER_INACTIVE)
    api_token_touch(token=match, now=now)
    return match


def api_token_touch(*, token: ApiToken, now: dt.datetime | None = None) -> None:
    """Note that ``token`` was used; at most one write per token per minute.

    Not audited: it is bookkeeping, and the request itself is what the caller did.
    """
    now = now or timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now
