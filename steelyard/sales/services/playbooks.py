"""Writing stage playbooks: versions, their stages and checklist items, activation, and moving open
opportunities from an older version onto the one in force.

- Administrators and sales directors edit (``can_edit_playbooks``); everything is audited on the
  playbook. Everyone in sales reads (``can_read_playbooks``).
- ``playbook_create`` starts a product line's next version as a *draft* copying the version in force
  (else the latest); a line's first playbook copies the default playbook. ``playbook_copy`` copies any
  version into the next draft of its own line (or of another line).
- Only drafts change. Each stage and item write is checked on its own (codes are unique slugs;
  probabilities 0–100; a won stage is at 100 % in ``won``, a lost stage at 0 % in ``lost``, an open
  stage never in ``won`` / ``lost``; at most one won and one lost stage; closing stages have no
  checklist; a required-information item names a field of ``REQUIRABLE_FIELDS``). The rules on the
  whole process (exactly one won and one lost stage, at least one open stage before them, open
  probabilities never going down) are ``playbook_problems``: the editor shows them while a draft is
  built, and ``playbook_activate`` refuses a draft that has any.
- ``playbook_activate`` puts a draft in force for its line and retires the version in force before it,
  in one transaction. Open opportunities keep the version they started on until ``playbook_migrate``
  moves them (by a stage map, by default stage code to stage code).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.db.models.deletion import ProtectedError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override

from steelyard.catalog.models import ProductLine
from steelyard.core.access import user_has_role
from steelyard.core.models import AuditAction
from steelyard.core.services.audit import audit_record, snapshot
from steelyard.org.roles import EXECUTIVE, SALES_DIRECTOR, SALES_MANAGER, SALES_REP, SOLUTION_ENGINEER
from steelyard.sales.models import (
    OPEN_CATEGORIES,
    REQUIRABLE_FIELDS,
    ChecklistEntry,
    ForecastCategory,
    ItemKind,
    Opportunity,
    OpportunityStatus,
    Playbook,
    PlaybookItem,
    PlaybookStage,
    PlaybookStatus,
    StageVisit,
)
from steelyard.sales.services.forecast import forecast_cells_apply, opportunity_figures, weighted
from steelyard.sales.services.funnel import funnel_backfill
from steelyard.sales.services.risks import risks_refresh

#: Who may read playbooks (administrators always may); who may edit them: administrators and directors.
READ_ROLES = (SALES_DIRECTOR, SALES_MANAGER, SALES_REP, EXECUTIVE, SOLUTION_ENGINEER)
EDIT_ROLES = (SALES_DIRECTOR,)

ERR_FORBIDDEN = _("Only administrators and sales directors may change playbooks.")
ERR_LOCKED = _("This version is in force or retired and can no longer be changed. Create a new version.")
ERR_NOT_DRAFT = _("Only a draft can be activated.")
ERR_REQUIRED = _("This field is required.")
ERR_TOO_LONG = _("Use at most %(n)s characters.")
ERR_CODE = _("Use lower-case letters, digits, hyphens and underscores only.")
ERR_CODE_TAKEN = _("Another stage of this playbook already uses this code.")
ERR_PROBABILITY = _("Enter a probability between 0 and 100.")
ERR_CATEGORY = _("Choose a forecast category.")
ERR_STALL = _("Enter a whole number of days between 1 and 3650, or leave it empty.")
ERR_WON_AND_LOST = _("A stage is either won or lost, not both.")
ERR_WON_PROBABILITY = _("The won stage has a probability of 100.")
ERR_LOST_PROBABILITY = _("The lost stage has a probability of 0.")
ERR_WON_CATEGORY = _("The won stage counts as “Closed won”.")
ERR_LOST_CATEGORY = _("The lost stage counts as “Closed lost”.")
ERR_OPEN_CATEGORY = _("An open stage counts as pipeline, best case, commit or omitted, not as closed.")
ERR_SECOND_WON = _("The playbook already has a won stage (“%(name)s”).")
ERR_SECOND_LOST = _("The playbook already has a lost stage (“%(name)s”).")
ERR_NO_WON = _("Add a won stage (probability 100, “Closed won”).")
ERR_NO_LOST = _("Add a lost stage (probability 0, “Closed lost”).")
ERR_MANY_WON = _("Keep exactly one won stage.")
ERR_MANY_LOST = _("Keep exactly one lost stage.")
ERR_NO_OPEN = _("Add at least one open stage before the won and lost stages.")
ERR_CLOSING_LAST = _("The won and lost stages come after every open stage.")
ERR_DECREASING = _("The probability goes down from “%(prev)s” (%(prev_p)s%%) to “%(name)s” (%(p)s%%).")
ERR_REORDER = _("List every stage of the playbook exactly once.")
ERR_REORDER_ITEMS = _("List every item of the stage exactly once.")
ERR_KIND = _("Choose a kind of item.")
ERR_FIELD = _("Choose which opportunity field this item requires.")
ERR_FIELD_TWICE = _("This stage already requires this field.")
ERR_CLOSING_ITEMS = _(
    "A won or lost stage has no checklist: put what must be done before winning on the last open stage."
)
ERR_NAME = _("Give the playbook a name of at most 100 characters.")
ERR_VERSION_CONFLICT = _("Another version was created at the same time. Try again.")
ERR_TARGET_NOT_ACTIVE = _("Opportunities can only be moved onto the version in force.")
ERR_SAME_VERSION = _("Choose another version to move the opportunities from.")
ERR_OTHER_LINE = _("These versions belong to different product lines.")
ERR_MAP_SOURCE = _("This is not an open stage of v%(version)s.")
ERR_MAP_TARGET = _("Choose an open stage of v%(version)s.")
ERR_MAP_MISSING = _("Choose where the opportunities in “%(name)s” go.")
ERR_NO_STAGES_TO_COPY = _("The version to copy has no stages.")
ERR_LINE = _("Unknown product line.")
ERR_IN_USE = _("Opportunities use this version; it is kept as their history.")

AUDIT_CREATED = "sales.playbook.created"
AUDIT_UPDATED = "sales.playbook.updated"
AUDIT_DELETED = "sales.playbook.deleted"
AUDIT_STAGES = "sales.playbook.stages_changed"
AUDIT_ITEMS = "sales.playbook.items_changed"
AUDIT_ACTIVATED = "sales.playbook.activated"
AUDIT_RETIRED = "sales.playbook.retired"
AUDIT_MIGRATED = "sales.playbook.opportunities_moved"

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
STAGE_FIELDS = (
    "code",
    "name",
    "name_en",
    "probability",
    "forecast_category",
    "stall_days",
    "exit_criteria",
    "is_won",
    "is_lost",
)
ITEM_FIELDS = ("kind", "label", "label_en", "field", "required")
HUNDRED = Decimal("100")
# Names of new playbooks and stages are data in the company's working language; editors rename them.
NAME_SUFFIX = "销售流程"
DEFAULT_NAME = "标准销售流程"
MAX_STALL = 3650
CHUNK = 500
_UNSET: Any = object()


# --- who may do what --------------------------------------------------------------------------------


def can_read_playbooks(user: Any) -> bool:
    """Everyone in sales reads playbooks: reps see what each stage asks of them."""
    return user_has_role(user, *READ_ROLES)


def can_edit_playbooks(user: Any) -> bool:
    """Administrators (and superusers) and sales directors edit playbooks."""
    return user_has_role(user, *EDIT_ROLES)


def _require_editor(actor: Any) -> None:
    if not can_edit_playbooks(actor):
        raise PermissionDenied(str(ERR_FORBIDDEN))


def _lock(playbook: Playbook) -> Playbook:
    # order_by("pk"): the default ordering joins the product line, which FOR UPDATE cannot lock.
    fresh = Playbook.objects.select_for_update().filter(pk=playbook.pk).order_by("pk").first()
    if fresh is None:
        raise ValidationError(ERR_LOCKED, code="locked")
    return fresh


def _lock_draft(playbook: Playbook) -> Playbook:
    """The playbook row, locked; refuses anything but a draft (it may have just been activated)."""
    fresh = _lock(playbook)
    if fresh.status != PlaybookStatus.DRAFT:
        raise ValidationError(ERR_LOCKED, code="locked")
    return fresh


def _touch(playbook: Playbook) -> None:
    Playbook.objects.filter(pk=playbook.pk).update(updated_at=timezone.now())


# --- checking a stage -------------------------------------------------------------------------------


def _decimal(value: Any) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(value) from exc
    if not d.is_finite():
        raise ValueError(value)
    return d


def _int(value: Any) -> int | None:
    d = _decimal(value)
    if d is None:
        return None
    if d != d.to_integral_value():
        raise ValueError(value)
    return int(d)


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "on", "yes")
    return bool(value)


def _text(value: Any) -> str:
    return str(value if value is not None else "").strip()


def stage_values(stage: PlaybookStage) -> dict[str, Any]:
    return {name: getattr(stage, name) for name in STAGE_FIELDS}


def clean_stage(
    values: Mapping[str, Any], *, playbook: Playbook, stage: PlaybookStage | None = None
) -> dict[str, Any]:
    """A stage's values (``values`` over the stage's current ones) checked on their own and against the
    playbook's other stages; raises a ``ValidationError`` naming each bad field."""
    merged: dict[str, Any] = stage_values(stage) if stage is not None else {}
    unknown = set(values) - set(STAGE_FIELDS)
    errors: dict[str, list[str]] = {k: [str(ERR_REQUIRED)] for k in sorted(unknown)}
    merged.update({k: v for k, v in values.items() if k in STAGE_FIELDS})

    def err(field: str, message: Any) -> None:
        errors.setdefault(field, []).append(str(message))

    out: dict[str, Any] = {}
    code = _text(merged.get("code")).lower()
    if not code:
        err("code", ERR_REQUIRED)
    elif len(code) > 30:
        err("code", ERR_TOO_LONG % {"n": 30})
    elif not CODE_RE.match(code):
        err("code", ERR_CODE)
    elif playbook.stages.filter(code=code).exclude(pk=getattr(stage, "pk", None)).exists():
        err("code", ERR_CODE_TAKEN)
    out["code"] = code
    name = _text(merged.get("name"))
    if not name:
        err("name", ERR_REQUIRED)
    elif len(name) > 60:
        err("name", ERR_TOO_LONG % {"n": 60})
    out["name"] = name
    name_en = _text(merged.get("name_en"))
    if len(name_en) > 60:
        err("name_en", ERR_TOO_LONG % {"n": 60})
    out["name_en"] = name_en
    is_won, is_lost = _bool(merged.get("is_won")), _bool(merged.get("is_lost"))
    out["is_won"], out["is_lost"] = is_won, is_lost
    if is_won and is_lost:
        err("is_lost", ERR_WON_AND_LOST)
    probability: Decimal | None = None
    try:
        probability = _decimal(merged.get("probability"))
    except ValueError:
        err("probability", ERR_PROBABILITY)
    else:
        if probability is None:
            err("probability", ERR_REQUIRED)
        elif probability < 0 or probability > HUNDRED:
            err("probability", ERR_PROBABILITY)
            probability = None
        else:
            probability = probability.quantize(Decimal("0.01"))
    out["probability"] = probability
    category = _text(merged.get("forecast_category")) or (
        ForecastCategory.CLOSED_WON
        if is_won
        else ForecastCategory.CLOSED_LOST
        if is_lost
        else ForecastCategory.PIPELINE
    )
    if category not in ForecastCategory.values:
        err("forecast_category", ERR_CATEGORY)
    out["forecast_category"] = category
    if is_won and not is_lost:
        if probability is not None and probability != HUNDRED:
            err("probability", ERR_WON_PROBABILITY)
        if category and category != ForecastCategory.CLOSED_WON:
            err("forecast_category", ERR_WON_CATEGORY)
    elif is_lost and not is_won:
        if probability is not None and probability != 0:
            err("probability", ERR_LOST_PROBABILITY)
        if category and category != ForecastCategory.CLOSED_LOST:
            err("forecast_category", ERR_LOST_CATEGORY)
    elif category and category not in OPEN_CATEGORIES and category in ForecastCategory.values:
        err("forecast_category", ERR_OPEN_CATEGORY)
    others = playbook.stages.exclude(pk=getattr(stage, "pk", None))
    if is_won and not is_lost:
        other = others.filter(is_won=True).first()
        if other is not None:
            err("is_won", ERR_SECOND_WON % {"name": other.name})
    if is_lost and not is_won:
        other = others.filter(is_lost=True).first()
        if other is not None:
            err("is_lost", ERR_SECOND_LOST % {"name": other.name})
    stall: int | None = None
    if is_won or is_lost:
        stall = None  # a closed deal never stalls
    else:
        try:
            stall = _int(merged.get("stall_days"))
        except ValueError:
            err("stall_days", ERR_STALL)
        else:
            if stall is not None and (stall < 1 or stall > MAX_STALL):
                err("stall_days", ERR_STALL)
    out["stall_days"] = stall
    exit_criteria = _text(merged.get("exit_criteria"))
    if len(exit_criteria) > 2000:
        err("exit_criteria", ERR_TOO_LONG % {"n": 2000})
    out["exit_criteria"] = exit_criteria
    if stage is not None and (is_won or is_lost) and stage.items.exists():
        err("is_won" if is_won else "is_lost", ERR_CLOSING_ITEMS)
    if errors:
        raise ValidationError(errors)
    return out


def playbook_problems(playbook: Playbook) -> dict[str, list[str]]:
    """What keeps the playbook from being activated, ``{path: [messages]}`` ({} when it is ready).

    ``stages`` for the process as a whole, ``stages.<code>.<field>`` for one stage, ``items.<id>.field``
    for an item.
    """
    problems: dict[str, list[str]] = {}

    def add(path: str, message: Any) -> None:
        problems.setdefault(path, []).append(str(message))

    stages = list(PlaybookStage.objects.filter(playbook=playbook).order_by("order"))
    won = [s for s in stages if s.is_won]
    lost = [s for s in stages if s.is_lost]
    open_stages = [s for s in stages if not s.is_closed]
    if not open_stages:
        add("stages", ERR_NO_OPEN)
    if not won:
        add("stages", ERR_NO_WON)
    elif len(won) > 1:
        add("stages", ERR_MANY_WON)
    if not lost:
        add("stages", ERR_NO_LOST)
    elif len(lost) > 1:
        add("stages", ERR_MANY_LOST)
    seen_closing = False
    for s in stages:
        if s.is_closed:
            seen_closing = True
        elif seen_closing:
            add("stages", ERR_CLOSING_LAST)
            break
    for s in stages:
        path = f"stages.{s.code}"
        if s.is_won and s.is_lost:
            add(f"{path}.is_lost", ERR_WON_AND_LOST)
        elif s.is_won:
            if s.probability != HUNDRED:
                add(f"{path}.probability", ERR_WON_PROBABILITY)
            if s.forecast_category != ForecastCategory.CLOSED_WON:
                add(f"{path}.forecast_category", ERR_WON_CATEGORY)
        elif s.is_lost:
            if s.probability != 0:
                add(f"{path}.probability", ERR_LOST_PROBABILITY)
            if s.forecast_category != ForecastCategory.CLOSED_LOST:
                add(f"{path}.forecast_category", ERR_LOST_CATEGORY)
        else:
            if s.probability < 0 or s.probability > HUNDRED:
                add(f"{path}.probability", ERR_PROBABILITY)
            if s.forecast_category not in OPEN_CATEGORIES:
                add(f"{path}.forecast_category", ERR_OPEN_CATEGORY)
    for prev, cur in zip(open_stages, open_stages[1:], strict=False):
        if cur.probability < prev.probability:
            add(
                f"stages.{cur.code}.probability",
                ERR_DECREASING
                % {
                    "prev": prev.name,
                    "prev_p": _pct_text(prev.probability),
                    "name": cur.name,
                    "p": _pct_text(cur.probability),
                },
            )
    for item in PlaybookItem.objects.filter(stage__playbook=playbook, kind=ItemKind.FIELD).exclude(
        field__in=list(REQUIRABLE_FIELDS)
    ):
        add(f"items.{item.pk}.field", ERR_FIELD)
    closing_with_items = (
        PlaybookItem.objects.filter(stage__playbook=playbook)
        .filter(Q(stage__is_won=True) | Q(stage__is_lost=True))
        .values_list("stage__code", flat=True)
        .order_by()
        .distinct()
    )
    for code in closing_with_items:
        add(f"stages.{code}.items", ERR_CLOSING_ITEMS)
    return problems


def _pct_text(value: Decimal) -> str:
    return f"{Decimal(value).normalize():f}"


# --- checking an item -------------------------------------------------------------------------------


def item_values(item: PlaybookItem) -> dict[str, Any]:
    return {name: getattr(item, name) for name in ITEM_FIELDS}


def clean_item(
    values: Mapping[str, Any], *, stage: PlaybookStage, item: PlaybookItem | None = None
) -> dict[str, Any]:
    """An item's values (``values`` over the item's current ones) checked; a required-information item
    without a label takes the field's name in Chinese and English."""
    merged: dict[str, Any] = item_values(item) if item is not None else {}
    unknown = set(values) - set(ITEM_FIELDS)
    errors: dict[str, list[str]] = {k: [str(ERR_REQUIRED)] for k in sorted(unknown)}
    merged.update({k: v for k, v in values.items() if k in ITEM_FIELDS})

    def err(field: str, message: Any) -> None:
        errors.setdefault(field, []).append(str(message))

    if stage.is_closed:
        err("stage", ERR_CLOSING_ITEMS)
    kind = _text(merged.get("kind")) or ItemKind.TASK
    if kind not in ItemKind.values:
        err("kind", ERR_KIND)
    field = _text(merged.get("field"))
    if kind == ItemKind.FIELD:
        if field not in REQUIRABLE_FIELDS:
            err("field", ERR_FIELD)
        elif (
            PlaybookItem.objects.filter(stage=stage, kind=ItemKind.FIELD, field=field)
            .exclude(pk=getattr(item, "pk", None))
            .exists()
        ):
            err("field", ERR_FIELD_TWICE)
    else:
        field = ""
    label = _text(merged.get("label"))
    label_en = _text(merged.get("label_en"))
    if not label and kind == ItemKind.FIELD and field in REQUIRABLE_FIELDS:
        with override("zh-hans"):
            label = str(REQUIRABLE_FIELDS[field])
        if not label_en:
            with override("en"):
                label_en = str(REQUIRABLE_FIELDS[field])
    if not label:
        if "field" not in errors:  # a field chosen gives the label; a bad field is the one error to fix
            err("label", ERR_REQUIRED)
    elif len(label) > 200:
        err("label", ERR_TOO_LONG % {"n": 200})
    if len(label_en) > 200:
        err("label_en", ERR_TOO_LONG % {"n": 200})
    if errors:
        raise ValidationError(errors)
    return {
        "kind": kind,
        "field": field,
        "label": label,
        "label_en": label_en,
        "required": _bool(merged.get("required")),
    }


# --- versions ---------------------------------------------------------------------------------------


def _line_q(line_id: int | None) -> Q:
    return Q(product_line__isnull=True) if line_id is None else Q(product_line_id=line_id)


def next_version(line_id: int | None) -> int:
    return (Playbook.objects.filter(_line_q(line_id)).aggregate(m=Max("version"))["m"] or 0) + 1


def _line_of(product_line: ProductLine | int | None) -> ProductLine | None:
    if product_line is None or isinstance(product_line, ProductLine):
        return product_line
    line = ProductLine.objects.filter(pk=product_line).first()
    if line is None:
        raise ValidationError({"product_line": str(ERR_LINE)})
    return line


def _clean_name(name: Any) -> str:
    name = _text(name)
    if not name or len(name) > 100:
        raise ValidationError({"name": str(ERR_NAME)})
    return name


def _new_draft(
    *, actor: Any, line: ProductLine | None, name: str, description: str, source: Playbook | None
) -> Playbook:
    playbook = None
    for _attempt in range(5):
        try:
            with transaction.atomic():
                playbook = Playbook.objects.create(
                    product_line=line,
                    name=name,
                    version=next_version(line.pk if line else None),
                    status=PlaybookStatus.DRAFT,
                    description=description,
                    created_by=actor if getattr(actor, "pk", None) else None,
                )
            break
        except IntegrityError:  # two drafts created at once: take the next number
            continue
    if playbook is None:
        raise ValidationError(ERR_VERSION_CONFLICT, code="version_conflict")
    if source is not None:
        _copy_stages(source, playbook)
    else:
        _skeleton(playbook)
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=playbook,
        verb=AUDIT_CREATED,
        changes={
            k: [None, v]
            for k, v in snapshot(playbook, ["name", "version", "status", "product_line_id"]).items()
        },
        extra={
            "copied_from": source.pk if source else None,
            "copied_from_version": source.version if source else None,
            "stages": playbook.stages.count(),
        },
    )
    return playbook


def _copy_stages(source: Playbook, target: Playbook) -> None:
    items: list[PlaybookItem] = []
    for s in PlaybookStage.objects.filter(playbook=source).order_by("order").prefetch_related("items"):
        stage = PlaybookStage.objects.create(
            playbook=target, **{k: getattr(s, k) for k in (*STAGE_FIELDS, "order")}
        )
        items += [
            PlaybookItem(stage=stage, **{k: getattr(i, k) for k in (*ITEM_FIELDS, "order")})
            for i in s.items.all()
        ]
    PlaybookItem.objects.bulk_create(items)


def _skeleton(playbook: Playbook) -> None:
    """A first draft with nothing to copy: the two closing stages; the open stages are added before them."""
    won, lost = "赢单", "输单"
    PlaybookStage.objects.create(
        playbook=playbook,
        code="won",
        name=won,
        name_en="Won",
        order=1,
        probability=HUNDRED,
        forecast_category=ForecastCategory.CLOSED_WON,
        is_won=True,
    )
    PlaybookStage.objects.create(
        playbook=playbook,
        code="lost",
        name=lost,
        name_en="Lost",
        order=2,
        probability=Decimal("0"),
        forecast_category=ForecastCategory.CLOSED_LOST,
        is_lost=True,
    )


def copy_source_for(line: ProductLine | None) -> Playbook | None:
    """What a new draft for ``line`` starts from: the line's version in force, else its latest version,
    else (for a line) the default playbook in force."""
    own = Playbook.objects.filter(_line_q(line.pk if line else None))
    source = own.filter(status=PlaybookStatus.ACTIVE).first() or own.order_by("-version").first()
    if source is None and line is not None:
        source = Playbook.objects.filter(product_line__isnull=True, status=PlaybookStatus.ACTIVE).first()
    return source


@transaction.atomic
def playbook_create(
    *,
    actor: Any,
    product_line: ProductLine | int | None = None,
    name: str = "",
    description: str = "",
) -> Playbook:
    """The next version of ``product_line``'s playbook (None: the default), as a draft copying the
    version in force (else the latest; a line's first playbook copies the default playbook). With
    nothing to copy the draft starts with the won and lost stages only. Audited."""
    _require_editor(actor)
    line = _line_of(product_line)
    source = copy_source_for(line)
    if not _text(name):
        if source is not None and source.product_line_id == (line.pk if line else None):
            name = source.name
        elif line is not None:
            name = f"{line.name}{NAME_SUFFIX}"
        else:
            name = DEFAULT_NAME
    return _new_draft(
        actor=actor,
        line=line,
        name=_clean_name(name),
        description=_text(description) or (source.description if source else ""),
        source=source,
    )


@transaction.atomic
def playbook_copy(
    *, actor: Any, source: Playbook, product_line: ProductLine | int | None = _UNSET, name: str = ""
) -> Playbook:
    """A new draft copying ``source``'s stages and items: the next version of ``source``'s line, or of
    ``product_line`` when given (None: the default playbook). Audited."""
    _require_editor(actor)
    line = source.product_line if product_line is _UNSET else _line_of(product_line)
    if not PlaybookStage.objects.filter(playbook=source).exists():
        raise ValidationError(ERR_NO_STAGES_TO_COPY, code="empty")
    if not _text(name):
        same_line = (line.pk if line else None) == source.product_line_id
        name = source.name if same_line or line is None else f"{line.name}{NAME_SUFFIX}"
    return _new_draft(
        actor=actor, line=line, name=_clean_name(name), description=source.description, source=source
    )


@transaction.atomic
def playbook_update(
    *, actor: Any, playbook: Playbook, name: str | None = None, description: str | None = None
) -> Playbook:
    """Rename a draft or change its description. Audited."""
    _require_editor(actor)
    playbook = _lock_draft(playbook)
    before = snapshot(playbook, ["name", "description"])
    if name is not None:
        playbook.name = _clean_name(name)
    if description is not None:
        playbook.description = _text(description)
    playbook.save(update_fields=["name", "description", "updated_at"])
    after = snapshot(playbook, before.keys())
    changes = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
    if changes:
        audit_record(
            actor=actor, action=AuditAction.UPDATE, obj=playbook, verb=AUDIT_UPDATED, changes=changes
        )
    return playbook


@transaction.atomic
def playbook_delete(*, actor: Any, playbook: Playbook) -> None:
    """Discard a draft with its stages and items (versions that were in force stay as history). Audited."""
    _require_editor(actor)
    playbook = _lock_draft(playbook)
    audit_record(
        actor=actor,
        action=AuditAction.DELETE,
        obj=playbook,
        verb=AUDIT_DELETED,
        changes={k: [v, None] for k, v in snapshot(playbook, ["name", "version", "product_line_id"]).items()},
        extra={"stages": list(playbook.stages.order_by("order").values_list("code", flat=True))},
    )
    try:
        with transaction.atomic():
            playbook.delete()
    except ProtectedError:
        raise ValidationError(ERR_IN_USE, code="in_use") from None


# --- stages of a draft --------------------------------------------------------------------------------


def _renumber_stages(playbook: Playbook, ordered_ids: list[int]) -> None:
    """Give the stages the orders 1..n in ``ordered_ids`` order (two steps: ``order`` is unique)."""
    stages = {s.pk: s for s in PlaybookStage.objects.filter(playbook=playbook)}
    for i, pk in enumerate(ordered_ids, start=1):
        PlaybookStage.objects.filter(pk=pk).update(order=10000 + i)
    for i, pk in enumerate(ordered_ids, start=1):
        PlaybookStage.objects.filter(pk=pk).update(order=i)
        stages[pk].order = i


def _stage_order(playbook: Playbook) -> list[PlaybookStage]:
    return list(PlaybookStage.objects.filter(playbook=playbook).order_by("order"))


def _audit_stages(actor: Any, playbook: Playbook, changes: dict[str, Any], **extra: Any) -> None:
    if changes:
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            obj=playbook,
            verb=AUDIT_STAGES,
            changes=changes,
            extra=extra,
        )
        _touch(playbook)


def _plain_stage(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in values.items()}


@transaction.atomic
def playbook_stage_add(*, actor: Any, playbook: Playbook, values: Mapping[str, Any]) -> PlaybookStage:
    """Add a stage to a draft: an open stage goes after the last open stage (before won and lost), a
    closing stage at the end. Checked (``clean_stage``) and audited."""
    _require_editor(actor)
    playbook = _lock_draft(playbook)
    clean = clean_stage(values, playbook=playbook)
    stages = _stage_order(playbook)
    closing = clean["is_won"] or clean["is_lost"]
    first_closing = next((i for i, s in enumerate(stages) if s.is_closed), len(stages))
    position = len(stages) if closing else first_closing
    stage = PlaybookStage.objects.create(playbook=playbook, order=20000, **clean)
    ids = [s.pk for s in stages]
    ids.insert(position, stage.pk)
    _renumber_stages(playbook, ids)
    stage.refresh_from_db()
    _audit_stages(
        actor,
        playbook,
        {f"{stage.code}.{k}": [None, v] for k, v in _plain_stage(clean).items()},
        added=stage.code,
    )
    return stage


@transaction.atomic
def playbook_stage_update(*, actor: Any, stage: PlaybookStage, values: Mapping[str, Any]) -> PlaybookStage:
    """Change a stage of a draft (fields left out keep their value). Checked and audited."""
    _require_editor(actor)
    playbook = _lock_draft(stage.playbook)
    stage = PlaybookStage.objects.get(pk=stage.pk)
    before = _plain_stage(stage_values(stage))
    clean = clean_stage(values, playbook=playbook, stage=stage)
    for k, v in clean.items():
        setattr(stage, k, v)
    stage.save()
    after = _plain_stage(stage_values(stage))
    _audit_stages(
        actor,
        playbook,
        {f"{before['code']}.{k}": [before[k], after[k]] for k in after if before[k] != after[k]},
    )
    return stage


@transaction.atomic
def playbook_stage_delete(*, actor: Any, stage: PlaybookStage) -> None:
    """Remove a stage (and its items) from a draft. Audited."""
    _require_editor(actor)
    playbook = _lock_draft(stage.playbook)
    stage = PlaybookStage.objects.get(pk=stage.pk)
    before = _plain_stage(stage_values(stage))
    items = list(stage.items.values_list("label", flat=True))
    try:
        with transaction.atomic():
            stage.delete()
    except ProtectedError:
        raise ValidationError(ERR_IN_USE, code="in_use") from None
    _renumber_stages(playbook, [s.pk for s in _stage_order(playbook)])
    _audit_stages(
        actor,
        playbook,
        {f"{before['code']}.{k}": [v, None] for k, v in before.items()},
        deleted=before["code"],
        items=items,
    )


@transaction.atomic
def playbook_stages_reorder(
    *, actor: Any, playbook: Playbook, stage_ids: Iterable[int]
) -> list[PlaybookStage]:
    """Put a draft's stages in the order of ``stage_ids`` (every stage once; won and lost stay last)."""
    _require_editor(actor)
    playbook = _lock_draft(playbook)
    stages = {s.pk: s for s in _stage_order(playbook)}
    try:
        ids = [int(i) for i in stage_ids]
    except (TypeError, ValueError):
        raise ValidationError({"stage_ids": str(ERR_REORDER)}) from None
    if sorted(ids) != sorted(stages) or len(set(ids)) != len(ids):
        raise ValidationError({"stage_ids": str(ERR_REORDER)})
    seen_closing = False
    for pk in ids:
        if stages[pk].is_closed:
            seen_closing = True
        elif seen_closing:
            raise ValidationError({"stage_ids": str(ERR_CLOSING_LAST)})
    before = [s.code for s in stages.values()]
    _renumber_stages(playbook, ids)
    after = [stages[pk].code for pk in ids]
    if before != after:
        _audit_stages(actor, playbook, {"order": [before, after]})
    return _stage_order(playbook)


def playbook_stage_move(*, actor: Any, stage: PlaybookStage, offset: int) -> list[PlaybookStage]:
    """Move an open stage ``offset`` places up (negative) or down among the open stages."""
    stages = _stage_order(stage.playbook)
    open_ids = [s.pk for s in stages if not s.is_closed]
    if stage.pk not in open_ids:
        return stages
    i = open_ids.index(stage.pk)
    j = max(0, min(len(open_ids) - 1, i + offset))
    if i == j:
        return stages
    open_ids.insert(j, open_ids.pop(i))
    closing = [s.pk for s in stages if s.is_closed]
    return playbook_stages_reorder(actor=actor, playbook=stage.playbook, stage_ids=open_ids + closing)


# --- items of a draft ----------------------------------------------------------------------------------


def _audit_items(actor: Any, playbook: Playbook, changes: dict[str, Any], **extra: Any) -> None:
    if changes:
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            obj=playbook,
            verb=AUDIT_ITEMS,
            changes=changes,
            extra=extra,
        )
        _touch(playbook)


@transaction.atomic
def playbook_item_add(*, actor: Any, stage: PlaybookStage, values: Mapping[str, Any]) -> PlaybookItem:
    """Add a checklist item (key task, required information, required document) at the end of a draft's
    open stage. Checked (``clean_item``) and audited."""
    _require_editor(actor)
    playbook = _lock_draft(stage.playbook)
    stage = PlaybookStage.objects.get(pk=stage.pk)
    clean = clean_item(values, stage=stage)
    last = stage.items.aggregate(m=Max("order"))["m"] or 0
    item = PlaybookItem.objects.create(stage=stage, order=last + 1, **clean)
    _audit_items(
        actor,
        playbook,
        {f"{stage.code}.{item.pk}.{k}": [None, v] for k, v in clean.items()},
        added=item.pk,
        stage=stage.code,
    )
    return item


@transaction.atomic
def playbook_item_update(*, actor: Any, item: PlaybookItem, values: Mapping[str, Any]) -> PlaybookItem:
    """Change an item of a draft (fields left out keep their value). Checked and audited."""
    _require_editor(actor)
    item = PlaybookItem.objects.select_related("stage__playbook").get(pk=item.pk)
    playbook = _lock_draft(item.stage.playbook)
    before = item_values(item)
    clean = clean_item(values, stage=item.stage, item=item)
    for k, v in clean.items():
        setattr(item, k, v)
    item.save()
    after = item_values(item)
    _audit_items(
        actor,
        playbook,
        {f"{item.stage.code}.{item.pk}.{k}": [before[k], after[k]] for k in after if before[k] != after[k]},
    )
    return item


@transaction.atomic
def playbook_item_delete(*, actor: Any, item: PlaybookItem) -> None:
    """Remove an item from a draft. Audited."""
    _require_editor(actor)
    item = PlaybookItem.objects.select_related("stage__playbook").get(pk=item.pk)
    playbook = _lock_draft(item.stage.playbook)
    before = item_values(item)
    code, pk = item.stage.code, item.pk
    item.delete()
    _audit_items(actor, playbook, {f"{code}.{pk}.{k}": [v, None] for k, v in before.items()}, deleted=pk)


@transaction.atomic
def playbook_items_reorder(
    *, actor: Any, stage: PlaybookStage, item_ids: Iterable[int]
) -> list[PlaybookItem]:
    """Put a draft stage's items in the order of ``item_ids`` (every item once)."""
    _require_editor(actor)
    playbook = _lock_draft(stage.playbook)
    items = {i.pk: i for i in PlaybookItem.objects.filter(stage=stage).order_by("order", "id")}
    try:
        ids = [int(i) for i in item_ids]
    except (TypeError, ValueError):
        raise ValidationError({"item_ids": str(ERR_REORDER_ITEMS)}) from None
    if sorted(ids) != sorted(items) or len(set(ids)) != len(ids):
        raise ValidationError({"item_ids": str(ERR_REORDER_ITEMS)})
    before = list(items)
    for i, pk in enumerate(ids, start=1):
        if items[pk].order != i:
            PlaybookItem.objects.filter(pk=pk).update(order=i)
    if before != ids:
        _audit_items(actor, playbook, {f"{stage.code}.order": [before, ids]})
    return list(PlaybookItem.objects.filter(stage=stage).order_by("order", "id"))


def playbook_item_move(*, actor: Any, item: PlaybookItem, offset: int) -> list[PlaybookItem]:
    """Move an item ``offset`` places up (negative) or down within its stage."""
    ids = list(
        PlaybookItem.objects.filter(stage_id=item.stage_id)
        .order_by("order", "id")
        .values_list("pk", flat=True)
    )
    i = ids.index(item.pk)
    j = max(0, min(len(ids) - 1, i + offset))
    if i != j:
        ids.insert(j, ids.pop(i))
    return playbook_items_reorder(actor=actor, stage=item.stage, item_ids=ids)


# --- activation -----------------------------------------------------------------------------------------


@transaction.atomic
def playbook_activate(*, actor: Any, playbook: Playbook) -> Playbook:
    """Put a draft in force for its product line (or as the default): new opportunities start on it.

    Refused with ``playbook_problems`` when the process is not complete. The version in force before it
    is retired in the same transaction; its open opportunities stay on it until they are moved
    (``playbook_migrate``). Audited on both versions.
    """
    _require_editor(actor)
    playbook = _lock(playbook)
    if playbook.status != PlaybookStatus.DRAFT:
        raise ValidationError(ERR_NOT_DRAFT, code="not_draft")
    problems = playbook_problems(playbook)
    if problems:
        raise ValidationError(problems)
    now = timezone.now()
    retired = []
    previous = Playbook.objects.select_for_update().filter(
        _line_q(playbook.product_line_id), status=PlaybookStatus.ACTIVE
    )
    for other in previous.exclude(pk=playbook.pk).order_by("pk"):
        other.status = PlaybookStatus.RETIRED
        other.save(update_fields=["status", "updated_at"])
        retired.append(other.version)
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            obj=other,
            verb=AUDIT_RETIRED,
            changes={"status": [PlaybookStatus.ACTIVE.value, PlaybookStatus.RETIRED.value]},
            extra={
                "superseded_by": playbook.version,
                "open_opportunities": Opportunity.objects.filter(
                    playbook=other, status=OpportunityStatus.OPEN
                ).count(),
            },
        )
    playbook.status = PlaybookStatus.ACTIVE
    playbook.activated_at = now
    playbook.save(update_fields=["status", "activated_at", "updated_at"])
    audit_record(
        actor=actor,
        action=AuditAction.ACTION,
        obj=playbook,
        verb=AUDIT_ACTIVATED,
        changes={"status": [PlaybookStatus.DRAFT.value, PlaybookStatus.ACTIVE.value]},
        extra={"retired": retired},
    )
    return playbook


# --- moving open opportunities onto the version in force -----------------------------------------------


def migration_scope(source: Playbook, target: Playbook) -> Q:
    """Which opportunities a move from ``source`` to ``target`` takes: the open ones on ``source`` (of
    ``target``'s line only, when ``source`` is the default playbook and ``target`` a line's own)."""
    cond = Q(playbook_id=source.pk, status=OpportunityStatus.OPEN)
    if source.product_line_id is None and target.product_line_id is not None:
        cond &= Q(product_line_id=target.product_line_id)
    return cond


def default_stage_map(source: Playbook, target: Playbook) -> dict[int, int]:
    """``{source stage id: target stage id}`` for the open stages whose code is an open stage of both."""
    targets = {
        s.code: s.pk for s in PlaybookStage.objects.filter(playbook=target, is_won=False, is_lost=False)
    }
    return {
        s.pk: targets[s.code]
        for s in PlaybookStage.objects.filter(playbook=source, is_won=False, is_lost=False)
        if s.code in targets
    }


def check_migration(source: Playbook, target: Playbook) -> None:
    """Refuse a move that makes no sense (same version, a target not in force, other product lines)."""
    if source.pk == target.pk:
        raise ValidationError({"source": str(ERR_SAME_VERSION)})
    if target.status != PlaybookStatus.ACTIVE:
        raise ValidationError({"target": str(ERR_TARGET_NOT_ACTIVE)})
    if source.product_line_id != target.product_line_id and source.product_line_id is not None:
        raise ValidationError({"target": str(ERR_OTHER_LINE)})


def resolve_stage_map(
    source: Playbook, target: Playbook, stage_map: Mapping[Any, Any] | None
) -> dict[int, int]:
    """The default map by code overridden by ``stage_map``, checked: keys are open stages of ``source``,
    values open stages of ``target``, and every stage holding an open opportunity is mapped."""
    errors: dict[str, list[str]] = {}
    source_open = {
        s.pk: s for s in PlaybookStage.objects.filter(playbook=source, is_won=False, is_lost=False)
    }
    target_open = set(
        PlaybookStage.objects.filter(playbook=target, is_won=False, is_lost=False).values_list(
            "pk", flat=True
        )
    )
    resolved = default_stage_map(source, target)
    for key, value in (stage_map or {}).items():
        try:
            sid = int(key)
        except (TypeError, ValueError):
            errors.setdefault(f"stage_map.{key}", []).append(
                str(ERR_MAP_SOURCE % {"version": source.version})
            )
            continue
        if sid not in source_open:
            errors.setdefault(f"stage_map.{key}", []).append(
                str(ERR_MAP_SOURCE % {"version": source.version})
            )
            continue
        if value in (None, ""):
            resolved.pop(sid, None)
            continue
        try:
            tid = int(value)
        except (TypeError, ValueError):
            tid = -1
        if tid not in target_open:
            errors.setdefault(f"stage_map.{sid}", []).append(
                str(ERR_MAP_TARGET % {"version": target.version})
            )
            continue
        resolved[sid] = tid
    used = set(
        Opportunity.objects.filter(migration_scope(source, target))
        .values_list("stage_id", flat=True)
        .distinct()
    )
    for sid in sorted(used):
        if sid not in resolved and f"stage_map.{sid}" not in errors:
            stage = source_open.get(sid)
            name = stage.name if stage else str(sid)
            errors.setdefault(f"stage_map.{sid}", []).append(str(ERR_MAP_MISSING % {"name": name}))
    if errors:
        raise ValidationError(errors)
    return resolved


def _item_map(source: Playbook, target: Playbook, stage_map: Mapping[int, int]) -> dict[int, int]:
    """Key tasks and documents of ``source`` → the same item (kind and label) on the mapped stage of
    ``target``, so what a rep already ticked stays ticked after the move."""
    full = dict(stage_map)
    codes = {s.code: s.pk for s in PlaybookStage.objects.filter(playbook=target)}
    for s in PlaybookStage.objects.filter(playbook=source):
        if s.pk not in full and s.code in codes:
            full[s.pk] = codes[s.code]
    targets = {
        (stage_id, kind, label): pk
        for pk, stage_id, kind, label in PlaybookItem.objects.filter(stage__playbook=target)
        .exclude(kind=ItemKind.FIELD)
        .values_list("pk", "stage_id", "kind", "label")
    }
    out = {}
    for pk, stage_id, kind, label in (
        PlaybookItem.objects.filter(stage__playbook=source)
        .exclude(kind=ItemKind.FIELD)
        .values_list("pk", "stage_id", "kind", "label")
    ):
        new = targets.get((full.get(stage_id), kind, label))
        if new is not None:
            out[pk] = new
    return out


@transaction.atomic
def playbook_migrate(
    *,
    actor: Any,
    source: Playbook,
    target: Playbook,
    stage_map: Mapping[Any, Any] | None = None,
) -> int:
    """Move the open opportunities of ``source`` onto ``target`` (the version in force); returns how many.

    ``stage_map`` is ``{source stage id: target stage id}`` over the default map by stage code; every
    stage holding an open opportunity must end up mapped. Each opportunity gets the target playbook and
    stage; its stay in the old stage is closed and one in the new stage opened (the "in this stage since"
    time is kept when the stage code is the same); probability and category follow the new stage unless
    set by hand; its forecast cell is moved; ticked tasks and attached documents carry over to the same
    items of the new version; its risk flags are recomputed. One transaction, audited on both versions.
    """
    _require_editor(actor)
    from simple_history.utils import bulk_update_with_history

    source, target = _lock(source), _lock(target)
    check_migration(source, target)
    resolved = resolve_stage_map(source, target, stage_map)
    stages = {s.pk: s for s in PlaybookStage.objects.filter(playbook_id__in=[source.pk, target.pk])}
    items = _item_map(source, target, resolved)
    now = timezone.now()
    scope = migration_scope(source, target)
    moved = 0
    last_pk = 0
    per_stage: dict[str, int] = {}
    while True:
        batch = list(
            Opportunity.objects.select_for_update().filter(scope, pk__gt=last_pk).order_by("pk")[:CHUNK]
        )
        if not batch:
            break
        last_pk = batch[-1].pk
        figures = []
        visits = []
        for opp in batch:
            before = opportunity_figures(opp)
            old, new = stages[opp.stage_id], stages[resolved[opp.stage_id]]
            opp.playbook_id, opp.stage_id = target.pk, new.pk
            if old.code != new.code:
                opp.stage_entered_at = now
            if not opp.probability_is_manual:
                opp.probability = new.probability
            if not opp.forecast_category_is_manual:
                opp.forecast_category = new.forecast_category
            opp.weighted_amount = weighted(opp.amount, opp.probability)
            opp.updated_at = now
            figures.append((before, opportunity_figures(opp)))
            visits.append(StageVisit(opportunity=opp, stage=new, entered_at=now, entered_by=actor))
            key = f"{old.code}>{new.code}"
            per_stage[key] = per_stage.get(key, 0) + 1
        ids = [o.pk for o in batch]
        bulk_update_with_history(
            batch,
            Opportunity,
            [
                "playbook",
                "stage",
                "stage_entered_at",
                "probability",
                "forecast_category",
                "weighted_amount",
                "updated_at",
            ],
            default_user=actor if getattr(actor, "pk", None) else None,
            default_change_reason=str(AUDIT_MIGRATED),
            default_date=now,
        )
        StageVisit.objects.filter(opportunity_id__in=ids, left_at__isnull=True).update(left_at=now)
        StageVisit.objects.bulk_create(visits)
        funnel_backfill(ids)  # the new stage may reach further (services.funnel)
        if items:
            carried = [
                ChecklistEntry(
                    opportunity_id=e.opportunity_id,
                    item_id=items[e.item_id],
                    done=e.done,
                    note=e.note,
                    attachment_id=e.attachment_id,
                    done_by_id=e.done_by_id,
                    done_at=e.done_at,
                )
                for e in ChecklistEntry.objects.filter(opportunity_id__in=ids, item_id__in=list(items))
            ]
            ChecklistEntry.objects.bulk_create(carried, ignore_conflicts=True)
        for before, after in figures:
            forecast_cells_apply(before, after)
        risks_refresh(ids=ids)  # another stage, another checklist and stall limit
        moved += len(batch)
    extra = {
        "from": source.pk,
        "from_version": source.version,
        "to": target.pk,
        "to_version": target.version,
        "opportunities": moved,
        "stages": per_stage,
    }
    for obj in (source, target):
        audit_record(actor=actor, action=AuditAction.ACTION, obj=obj, verb=AUDIT_MIGRATED, extra=extra)
    return moved
