"""Stage playbooks over the API (/api/v1/sales/playbooks).

- ``GET ""`` (keyset pages, newest first; ``q``, ``line`` (a product line id or ``default``),
  ``status``) and ``GET /{id}`` with its stages and their checklist items: everyone in sales (403 for
  others); drafts only for their editors (404 otherwise). ``open_opportunities`` counts those the
  caller can see.
- Writes, for administrators and sales directors (403 for others), audited by the services:
  ``POST ""`` (the next draft of a line, copying its version in force), ``POST /{id}/copy``,
  ``PATCH`` / ``DELETE /{id}`` (a draft's name and description; discard a draft), stages
  (``POST /{id}/stages``, ``PATCH`` / ``DELETE /{id}/stages/{stage_id}``, ``PUT /{id}/stages/order``),
  items (``POST /{id}/stages/{stage_id}/items``, ``PATCH`` / ``DELETE /{id}/items/{item_id}``,
  ``PUT /{id}/stages/{stage_id}/items/order``), ``POST /{id}/activate`` and ``POST /{id}/migrate``
  (move the open opportunities of version ``id`` onto ``target_id``; ``dry_run`` previews).
- A rule broken answers 400 with the fields named (``code``, ``probability``, ``stages.<code>.<field>``,
  ``stage_map.<stage id>``...); a malformed body 422.
"""

# No ``from __future__ import annotations``: ninja resolves the schemas' annotations at runtime.

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from steelyard.catalog.models import ProductLine
from steelyard.core.api.pagination import KeysetPagination, paginate
from steelyard.sales.forms_playbooks import PlaybookFilter
from steelyard.sales.models import Playbook, PlaybookItem, PlaybookStage
from steelyard.sales.selectors import playbooks as selectors
from steelyard.sales.services import playbooks as services

router = Router(tags=["sales"])

ERR_READ = _("Only people in sales may read playbooks.")
ERR_UNKNOWN_PLAYBOOK = _("Unknown playbook version.")


# --- schemas ---------------------------------------------------------------------------------------


class ItemOut(Schema):
    id: int
    kind: str = Field(description="task, field or document")
    label: str
    label_en: str
    field: str = Field(description="For kind=field: the opportunity field that satisfies the item.")
    required: bool
    order: int


class StageOut(Schema):
    id: int
    code: str
    name: str
    name_en: str
    order: int
    probability: Decimal
    forecast_category: str
    stall_days: int | None
    exit_criteria: str
    is_won: bool
    is_lost: bool
    items: list[ItemOut]

    @staticmethod
    def resolve_items(obj: PlaybookStage) -> list[Any]:
        return list(obj.items.all())


class PlaybookOut(Schema):
    id: int
    product_line_id: int | None = Field(description="Empty: the default playbook.")
    name: str
    version: int
    status: str = Field(description="draft, active or retired")
    description: str
    activated_at: dt.datetime | None
    created_by_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime


class PlaybookDetailOut(PlaybookOut):
    open_opportunities: int = Field(description="Open opportunities on this version that you can see.")
    stages: list[StageOut]
    problems: dict[str, list[str]] = Field(
        description="What keeps a draft from being activated ({} when it is ready, or not a draft)."
    )


class PlaybookIn(Schema):
    model_config = ConfigDict(extra="forbid")

    product_line_id: int | None = Field(None, description="Empty: the default playbook.")
    name: str = Field("", max_length=100, description="Empty: the name of the version copied.")
    description: str = Field("", max_length=4000)


class CopyIn(Schema):
    model_config = ConfigDict(extra="forbid")

    product_line_id: int | None = Field(
        None, description="Left out: the same line as the copied version; null: the default playbook."
    )
    name: str = Field("", max_length=100)


class PlaybookPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=100)
    description: str | None = Field(None, max_length=4000)


class StageIn(Schema):
    """A stage's fields; on PATCH the ones left out keep their value."""

    model_config = ConfigDict(extra="forbid")

    code: str | None = Field(None, max_length=60)
    name: str | None = Field(None, max_length=200)
    name_en: str | None = Field(None, max_length=200)
    probability: Decimal | None = None
    forecast_category: str | None = Field(None, max_length=20)
    stall_days: int | None = None
    exit_criteria: str | None = Field(None, max_length=4000)
    is_won: bool | None = None
    is_lost: bool | None = None


class ItemIn(Schema):
    model_config = ConfigDict(extra="forbid")

    kind: str | None = Field(None, max_length=20)
    label: str | None = Field(None, max_length=400)
    label_en: str | None = Field(None, max_length=400)
    field: str | None = Field(None, max_length=40)
    required: bool | None = None


class StageOrderIn(Schema):
    stage_ids: list[int] = Field(..., max_length=100)


class ItemOrderIn(Schema):
    item_ids: list[int] = Field(..., max_length=200)


class MigrateIn(Schema):
    model_config = ConfigDict(extra="forbid")

    target_id: int = Field(description="The version in force the opportunities move onto.")
    stage_map: dict[str, int | None] = Field(
        default_factory=dict,
        description="{source stage id: target stage id}, over the default map by stage code.",
    )
    dry_run: bool = Field(False, description="Only count what would move.")


class MigrateRowOut(Schema):
    stage_id: int
    stage_code: str
    count: int
    target_stage_id: int | None


class MigrateOut(Schema):
    source_id: int
    target_id: int
    dry_run: bool
    total: int
    moved: int
    rows: list[MigrateRowOut]


class PlaybookParams(Schema):
    q: str | None = Field(None, max_length=100)
    line: str | None = Field(None, description="A product line id, or default.")
    status: str | None = Field(None, description="draft, active or retired")


# --- helpers -------------------------------------------------------------------------------------


def _require_reader(request: HttpRequest) -> None:
    if not services.can_read_playbooks(request.user):
        raise PermissionDenied(str(ERR_READ))


def _require_editor(request: HttpRequest) -> None:
    _require_reader(request)
    if not services.can_edit_playbooks(request.user):
        raise PermissionDenied(str(services.ERR_FORBIDDEN))


def _playbook(request: HttpRequest, playbook_id: int) -> Playbook:
    playbook = selectors.playbook_get(user=request.user, pk=playbook_id)
    if playbook is None:
        raise Http404("No such playbook.")
    return playbook


def _detail(request: HttpRequest, playbook_id: int) -> dict[str, Any]:
    playbook = _playbook(request, playbook_id)
    counts = selectors.open_counts(user=request.user, playbook_ids=[playbook.pk])
    problems = services.playbook_problems(playbook) if playbook.status == "draft" else {}
    out = {k: getattr(playbook, k) for k in PlaybookOut.model_fields}
    out.update(
        {
            "open_opportunities": counts.get(playbook.pk, 0),
            "stages": list(playbook.stages.all()),
            "problems": problems,
        }
    )
    return out


def _stage(playbook: Playbook, stage_id: int) -> PlaybookStage:
    stage = next((s for s in playbook.stages.all() if s.pk == stage_id), None)
    if stage is None:
        raise Http404("No such stage.")
    return stage


def _item(playbook: Playbook, item_id: int) -> PlaybookItem:
    for s in playbook.stages.all():
        for i in s.items.all():
            if i.pk == item_id:
                return i
    raise Http404("No such item.")


def _line(product_line_id: int | None) -> ProductLine | None:
    if product_line_id is None:
        return None
    line = ProductLine.objects.filter(pk=product_line_id).first()
    if line is None:
        raise ValidationError({"product_line_id": str(services.ERR_LINE)})
    return line


# --- versions --------------------------------------------------------------------------------------


@router.get("", response=list[PlaybookOut])
@paginate(KeysetPagination, ordering=("-id",))
def list_playbooks(request: HttpRequest, filters: Query[PlaybookParams]):  # type: ignore[no-untyped-def]
    """Every version you may read, newest first (drafts only for administrators and sales directors)."""
    _require_reader(request)
    data = {k: v for k, v in filters.dict().items() if v is not None}
    f = PlaybookFilter(data, user=request.user)
    if not f.is_valid():
        raise ValidationError(f.errors.as_data())
    return f.filter_queryset(selectors.playbook_list(user=request.user), f.cleaned_data)


@router.get("/{int:playbook_id}", response=PlaybookDetailOut)
def get_playbook(request: HttpRequest, playbook_id: int):  # type: ignore[no-untyped-def]
    """A version with its stages (in order) and each stage's checklist."""
    _require_reader(request)
    return _detail(request, playbook_id)


@router.post("", response={201: PlaybookDetailOut})
def create_playbook(request: HttpRequest, payload: PlaybookIn):  # type: ignore[no-untyped-def]
    """The next draft version of a product line (empty: the default), copying its version in force."""
    _require_editor(request)
    playbook = services.playbook_create(
        actor=request.user,
        product_line=_line(payload.product_line_id),
        name=payload.name,
        description=payload.description,
    )
    return Status(201, _detail(request, playbook.pk))


@router.post("/{int:playbook_id}/copy", response={201: PlaybookDetailOut})
def copy_playbook(request: HttpRequest, playbook_id: int, payload: CopyIn):  # type: ignore[no-untyped-def]
    """A new draft copying this version: the next version of its line (or of ``product_line_id``)."""
    _require_editor(request)
    source = _playbook(request, playbook_id)
    kwargs: dict[str, Any] = {}
    if "product_line_id" in payload.model_fields_set:
        kwargs["product_line"] = _line(payload.product_line_id)
    playbook = services.playbook_copy(actor=request.user, source=source, name=payload.name, **kwargs)
    return Status(201, _detail(request, playbook.pk))


@router.patch("/{int:playbook_id}", response=PlaybookDetailOut)
def update_playbook(request: HttpRequest, playbook_id: int, payload: PlaybookPatch):  # type: ignore[no-untyped-def]
    _require_editor(request)
    playbook = _playbook(request, playbook_id)
    services.playbook_update(actor=request.user, playbook=playbook, **payload.dict(exclude_unset=True))
    return _detail(request, playbook_id)


@router.delete("/{int:playbook_id}", response={204: None})
def delete_playbook(request: HttpRequest, playbook_id: int):  # type: ignore[no-untyped-def]
    """Discard a draft (versions that were in force are history and stay)."""
    _require_editor(request)
    services.playbook_delete(actor=request.user, playbook=_playbook(request, playbook_id))
    return Status(204, None)


@router.post("/{int:playbook_id}/activate", response=PlaybookDetailOut)
def activate_playbook(request: HttpRequest, playbook_id: int):  # type: ignore[no-untyped-def]
    """Put a draft in force for its line; the version in force before it is retired."""
    _require_editor(request)
    services.playbook_activate(actor=request.user, playbook=_playbook(request, playbook_id))
    return _detail(request, playbook_id)


# --- stages and items of a draft -----------------------------------------------------------------------


@router.post("/{int:playbook_id}/stages", response={201: PlaybookDetailOut})
def add_stage(request: HttpRequest, playbook_id: int, payload: StageIn):  # type: ignore[no-untyped-def]
    """Add a stage (an open stage goes before won and lost)."""
    _require_editor(request)
    playbook = _playbook(request, playbook_id)
    services.playbook_stage_add(
        actor=request.user, playbook=playbook, values=payload.dict(exclude_unset=True)
    )
    return Status(201, _detail(request, playbook_id))


@router.patch("/{int:playbook_id}/stages/{int:stage_id}", response=PlaybookDetailOut)
def update_stage(request: HttpRequest, playbook_id: int, stage_id: int, payload: StageIn):  # type: ignore[no-untyped-def]
    _require_editor(request)
    stage = _stage(_playbook(request, playbook_id), stage_id)
    services.playbook_stage_update(actor=request.user, stage=stage, values=payload.dict(exclude_unset=True))
    return _detail(request, playbook_id)


@router.delete("/{int:playbook_id}/stages/{int:stage_id}", response=PlaybookDetailOut)
def delete_stage(request: HttpRequest, playbook_id: int, stage_id: int):  # type: ignore[no-untyped-def]
    _require_editor(request)
    stage = _stage(_playbook(request, playbook_id), stage_id)
    services.playbook_stage_delete(actor=request.user, stage=stage)
    return _detail(request, playbook_id)


@router.put("/{int:playbook_id}/stages/order", response=PlaybookDetailOut)
def reorder_stages(request: HttpRequest, playbook_id: int, payload: StageOrderIn):  # type: ignore[no-untyped-def]
    """Every stage id once, in the new order (won and lost stay last)."""
    _require_editor(request)
    playbook = _playbook(request, playbook_id)
    services.playbook_stages_reorder(actor=request.user, playbook=playbook, stage_ids=payload.stage_ids)
    return _detail(request, playbook_id)


@router.post("/{int:playbook_id}/stages/{int:stage_id}/items", response={201: PlaybookDetailOut})
def add_item(request: HttpRequest, playbook_id: int, stage_id: int, payload: ItemIn):  # type: ignore[no-untyped-def]
    """Add a checklist item at the end of an open stage."""
    _require_editor(request)
    stage = _stage(_playbook(request, playbook_id), stage_id)
    services.playbook_item_add(actor=request.user, stage=stage, values=payload.dict(exclude_unset=True))
    return Status(201, _detail(request, playbook_id))


@router.put("/{int:playbook_id}/stages/{int:stage_id}/items/order", response=PlaybookDetailOut)
def reorder_items(request: HttpRequest, playbook_id: int, stage_id: int, payload: ItemOrderIn):  # type: ignore[no-untyped-def]
    _require_editor(request)
    stage = _stage(_playbook(request, playbook_id), stage_id)
    services.playbook_items_reorder(actor=request.user, stage=stage, item_ids=payload.item_ids)
    return _detail(request, playbook_id)


@router.patch("/{int:playbook_id}/items/{int:item_id}", response=PlaybookDetailOut)
def update_item(request: HttpRequest, playbook_id: int, item_id: int, payload: ItemIn):  # type: ignore[no-untyped-def]
    _require_editor(request)
    item = _item(_playbook(request, playbook_id), item_id)
    services.playbook_item_update(actor=request.user, item=item, values=payload.dict(exclude_unset=True))
    return _detail(request, playbook_id)


@router.delete("/{int:playbook_id}/items/{int:item_id}", response=PlaybookDetailOut)
def delete_item(request: HttpRequest, playbook_id: int, item_id: int):  # type: ignore[no-untyped-def]
    _require_editor(request)
    item = _item(_playbook(request, playbook_id), item_id)
    services.playbook_item_delete(actor=request.user, item=item)
    return _detail(request, playbook_id)


# --- moving open opportunities ------------------------------------------------------------------------


@router.post("/{int:playbook_id}/migrate", response=MigrateOut)
def migrate_playbook(request: HttpRequest, playbook_id: int, payload: MigrateIn):  # type: ignore[no-untyped-def]
    """Move the open opportunities of this version onto ``target_id`` (the version in force)."""
    _require_editor(request)
    source = _playbook(request, playbook_id)
    target = selectors.playbook_list(user=request.user).filter(pk=payload.target_id).first()
    if target is None:
        raise ValidationError({"target_id": str(ERR_UNKNOWN_PLAYBOOK)})
    try:
        services.check_migration(source, target)
    except ValidationError as e:
        raise ValidationError({"target_id": e.messages}) from None
    stage_map = services.resolve_stage_map(source, target, payload.stage_map)
    rows, total = selectors.migration_preview(source, target, stage_map)
    moved = 0
    if not payload.dry_run:
        moved = services.playbook_migrate(
            actor=request.user, source=source, target=target, stage_map=payload.stage_map
        )
    return {
        "source_id": source.pk,
        "target_id": target.pk,
        "dry_run": payload.dry_run,
        "total": total,
        "moved": moved,
        "rows": [
            {
                "stage_id": r.stage.pk,
                "stage_code": r.stage.code,
                "count": r.count,
                "target_stage_id": r.target.pk if r.target else None,
            }
            for r in rows
        ],
    }
