"""Administering tier models: the model itself, its tiers and factors, activation, copies per product line,
the unsaved-settings preview and starting a run.

Every write is for administrators only (``PermissionDenied`` otherwise), atomic and audited. Bad settings
raise ``ValidationError`` keyed by field path, so the editor and the API can point at the exact cell::

    {"tiers.1.min_score": ["Each tier needs a lower minimum score than the tier above it."]}

The rules:
- tiers: codes unique slugs; ranks unique and contiguous from 1 (1 is the best); minimum scores strictly
  decreasing with rank; the worst tier's minimum score is 0, so every customer lands in a tier;
- factors: known codes, each once; weights ≥ 0 and at least one above 0; bands ``[[lower bound, share]]``
  with bounds strictly ascending and shares between 0 and 1 (bands scoring needs at least one band);
  linear scoring needs ``from`` < ``to``;
- one active model per product line, and one active global model (the database enforces it too; here it
  is a clear error naming the model in the way).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models.deletion import ProtectedError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.core import access
from steelyard.core.models import AuditAction
from steelyard.core.services.audit import audit_create, audit_delete, audit_record, audit_update, snapshot
from steelyard.tiering.models import AssessmentRun, Factor, FactorCode, Scoring, Tier, TierModel

VERB_TIERS = "tiering.model_tiers_set"
VERB_FACTORS = "tiering.model_factors_set"
VERB_ACTIVATE = "tiering.model_activated"
VERB_DEACTIVATE = "tiering.model_deactivated"
VERB_COPY = "tiering.model_copied"
VERB_RUN = "tiering.run_started"

MODEL_FIELDS = ("code", "name", "product_line", "description", "hysteresis_margin", "hysteresis_runs")
MAX_SCORE = Decimal("99999.99")
MAX_WEIGHT = Decimal("9999.99")
MAX_MARGIN = Decimal("100")
MAX_RUNS = 24
MAX_BANDS = 20
MAX_BOUND = Decimal("1e15")
SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]+$")

ERR_ADMIN = _("Only an administrator can change tier models.")
ERR_REQUIRED = _("This field is required.")
ERR_NUMBER = _("Enter a number.")
ERR_WHOLE = _("Enter a whole number.")
ERR_SLUG = _("Use letters, digits, hyphens and underscores only.")
ERR_TOO_LONG = _("Use at most %(n)s characters.")
ERR_CODE_TAKEN = _("Another tier model already uses this code.")
ERR_MARGIN = _("Enter a margin between 0 and 100 points.")
ERR_RUNS = _("Enter a number of assessments between 1 and %(n)s.")
ERR_NO_TIERS = _("Give the model at least one tier.")
ERR_TIER_CODE_DUP = _("Two tiers use the code “%(code)s”.")
ERR_RANK = _("Ranks must be 1, 2, 3 … without gaps or repeats (1 is the best tier).")
ERR_RANK_DUP = _("Another tier already has rank %(rank)s.")
ERR_SCORE_RANGE = _("Enter a score between 0 and %(max)s.")
ERR_SCORE_ORDER = _("Each tier needs a lower minimum score than the tier above it (%(above)s: %(score)s).")
ERR_WORST_ZERO = _("The last tier must start at 0, so that every customer has a tier.")
ERR_NO_FACTORS = _("Give the model at least one factor.")
ERR_FACTOR_CODE = _("Choose a factor.")
ERR_FACTOR_DUP = _("This factor is already in the model.")
ERR_WEIGHT = _("Enter a weight between 0 and %(max)s.")
ERR_NO_WEIGHT = _("Give at least one factor a weight above 0.")
ERR_SCORING = _("Choose bands or linear scoring.")
ERR_BANDS_NEEDED = _("Bands scoring needs at least one band.")
ERR_BANDS_MANY = _("Use at most %(n)s bands.")
ERR_BAND_SHAPE = _("Each band is a lower bound and a share of the weight.")
ERR_BAND_ORDER = _("Band lower bounds must go up strictly (%(prev)s, then %(bound)s).")
ERR_BAND_SHARE = _("A band's share of the weight is between 0 and 1 (e.g. 0.6 for 60 percent).")
ERR_LINEAR_BOUNDS = _("Linear scoring needs both “from” and “to”.")
ERR_LINEAR_ORDER = _("“From” must be lower than “to”. Untick “higher is better” to reward lower values.")
ERR_ACTIVE_GLOBAL = _("“%(other)s” is already the active global model. Deactivate it first.")
ERR_ACTIVE_LINE = _("“%(other)s” is already the active model for %(line)s. Deactivate it first.")
ERR_ACTIVATE_EMPTY = _("A model needs tiers and weighted factors before it can be activated.")
ERR_RUN_INACTIVE = _("Only an active model can be run. Use Preview to try out an inactive one.")
ERR_HAS_RUNS = _("This model has assessment runs; their history is kept. Deactivate it instead.")
ERR_DELETE_ACTIVE = _("Deactivate the model before deleting it.")
ERR_NO_ENGINE = _("The assessment engine is not available yet.")
ERR_COPY_SAME_LINE = _("Choose a product line for the copy.")
ERR_UNKNOWN_TIER = _("The model has no tier “%(code)s”.")
ERR_UNKNOWN_FACTOR = _("The model has no factor “%(code)s”.")

WARN_UNREACHABLE = _(
    "No customer can reach “%(tier)s”: it starts at %(score)s points but the weights add up to %(total)s."
)


# --- guards -----------------------------------------------------------------------------------------


def can_administer(user: Any) -> bool:
    return access.user_has_role(user, access.ADMINISTRATOR)


def _require_admin(actor: Any) -> None:
    if not can_administer(actor):
        raise PermissionDenied(str(ERR_ADMIN))


# --- value parsing ----------------------------------------------------------------------------------


def _decimal(value: Any) -> Decimal | None:
    """``value`` as a finite Decimal; None when empty; raises ValueError when it is not a number."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    try:
        d = Decimal(str(value).strip().replace(",", ""))
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


def _json_number(d: Decimal) -> int | float:
    """A Decimal as a JSON number: an int when whole, else the float of its exact text."""
    if d == d.to_integral_value():
        return int(d)
    return float(str(d.normalize()))


class Errors:
    """Collects ``{path: [messages]}`` and raises them as one ValidationError."""

    def __init__(self) -> None:
        self.data: dict[str, list[str]] = {}

    def add(self, path: str, message: Any) -> None:
        self.data.setdefault(path, []).append(str(message))

    def __bool__(self) -> bool:
        return bool(self.data)

    def raise_if_any(self) -> None:
        if self.data:
            raise ValidationError(self.data)


# --- model fields -------------------------------------------------------------------------------------


def clean_model_fields(data: Mapping[str, Any], *, instance: TierModel | None = None) -> dict[str, Any]:
    """The model's own fields checked and normalised (only those present in ``data``)."""
    errors = Errors()
    out: dict[str, Any] = {}
    if "code" in data:
        code = str(data.get("code") or "").strip()
        if not code:
            errors.add("code", ERR_REQUIRED)
        elif len(code) > 40:
            errors.add("code", ERR_TOO_LONG % {"n": 40})
        elif not SLUG_RE.match(code):
            errors.add("code", ERR_SLUG)
        elif TierModel.objects.filter(code=code).exclude(pk=getattr(instance, "pk", None)).exists():
            errors.add("code", ERR_CODE_TAKEN)
        out["code"] = code
    if "name" in data:
        name = str(data.get("name") or "").strip()
        if not name:
            errors.add("name", ERR_REQUIRED)
        elif len(name) > 100:
            errors.add("name", ERR_TOO_LONG % {"n": 100})
        out["name"] = name
    if "description" in data:
        out["description"] = str(data.get("description") or "").strip()
    if "product_line" in data:
        out["product_line"] = data.get("product_line") or None
    if "hysteresis_margin" in data:
        try:
            margin = _decimal(data.get("hysteresis_margin"))
        except ValueError:
            errors.add("hysteresis_margin", ERR_NUMBER)
        else:
            if margin is None:
                errors.add("hysteresis_margin", ERR_REQUIRED)
            elif margin < 0 or margin > MAX_MARGIN:
                errors.add("hysteresis_margin", ERR_MARGIN)
            else:
                out["hysteresis_margin"] = margin.quantize(Decimal("0.01"))
    if "hysteresis_runs" in data:
        try:
            runs = _int(data.get("hysteresis_runs"))
        except ValueError:
            errors.add("hysteresis_runs", ERR_WHOLE)
        else:
            if runs is None:
                errors.add("hysteresis_runs", ERR_REQUIRED)
            elif runs < 1 or runs > MAX_RUNS:
                errors.add("hysteresis_runs", ERR_RUNS % {"n": MAX_RUNS})
            else:
                out["hysteresis_runs"] = runs
    errors.raise_if_any()
    return out


# --- tiers ----------------------------------------------------------------------------------------------


def clean_tiers(rows: Sequence[Mapping[str, Any]], *, prefix: str = "tiers") -> list[dict[str, Any]]:
    """Tier rows ``{code, name, name_en, rank, min_score}`` checked as a set; sorted by rank."""
    errors = Errors()
    if not rows:
        errors.add(prefix, ERR_NO_TIERS)
        errors.raise_if_any()
    out: list[dict[str, Any]] = []
    seen_codes: dict[str, int] = {}
    seen_ranks: dict[int, int] = {}
    for i, row in enumerate(rows):
        path = f"{prefix}.{i}"
        code = str(row.get("code") or "").strip()
        name = str(row.get("name") or "").strip()
        name_en = str(row.get("name_en") or "").strip()
        if not code:
            errors.add(f"{path}.code", ERR_REQUIRED)
        elif len(code) > 20:
            errors.add(f"{path}.code", ERR_TOO_LONG % {"n": 20})
        elif not SLUG_RE.match(code):
            errors.add(f"{path}.code", ERR_SLUG)
        elif code in seen_codes:
            errors.add(f"{path}.code", ERR_TIER_CODE_DUP % {"code": code})
        else:
            seen_codes[code] = i
        if not name:
            errors.add(f"{path}.name", ERR_REQUIRED)
        elif len(name) > 50:
            errors.add(f"{path}.name", ERR_TOO_LONG % {"n": 50})
        if len(name_en) > 50:
            errors.add(f"{path}.name_en", ERR_TOO_LONG % {"n": 50})
        rank: int | None = None
        try:
            rank = _int(row.get("rank"))
        except ValueError:
            errors.add(f"{path}.rank", ERR_WHOLE)
        else:
            if rank is None:
                errors.add(f"{path}.rank", ERR_REQUIRED)
            elif rank < 1:
                errors.add(f"{path}.rank", ERR_RANK)
                rank = None
            elif rank in seen_ranks:
                errors.add(f"{path}.rank", ERR_RANK_DUP % {"rank": rank})
                rank = None
            else:
                seen_ranks[rank] = i
        score: Decimal | None = None
        try:
            score = _decimal(row.get("min_score"))
        except ValueError:
            errors.add(f"{path}.min_score", ERR_NUMBER)
        else:
            if score is None:
                errors.add(f"{path}.min_score", ERR_REQUIRED)
            elif score < 0 or score > MAX_SCORE:
                errors.add(f"{path}.min_score", ERR_SCORE_RANGE % {"max": MAX_SCORE})
                score = None
            else:
                score = score.quantize(Decimal("0.01"))
        out.append(
            {"code": code, "name": name, "name_en": name_en, "rank": rank, "min_score": score, "_i": i}
        )
    if not errors:
        ranks = sorted(r["rank"] for r in out)
        if ranks != list(range(1, len(out) + 1)):
            for r in out:
                if r["rank"] > len(out):
                    errors.add(f"{prefix}.{r['_i']}.rank", ERR_RANK)
            if not errors:
                errors.add(prefix, ERR_RANK)
    if not errors:
        out.sort(key=lambda r: r["rank"])
        for above, below in zip(out, out[1:], strict=False):
            if below["min_score"] >= above["min_score"]:
                errors.add(
                    f"{prefix}.{below['_i']}.min_score",
                    ERR_SCORE_ORDER % {"above": above["name"], "score": above["min_score"]},
                )
        if out[-1]["min_score"] != 0:
            errors.add(f"{prefix}.{out[-1]['_i']}.min_score", ERR_WORST_ZERO)
    errors.raise_if_any()
    for r in out:
        r.pop("_i")
    return out


# --- factors ---------------------------------------------------------------------------------------------


def clean_bands(value: Any, *, path: str, errors: Errors) -> list[list[int | float]]:
    """Bands ``[[bound, share], ...]`` with bounds strictly ascending and shares 0–1, as JSON numbers."""
    if value in (None, ""):
        return []
    if not isinstance(value, (list, tuple)):
        errors.add(path, ERR_BAND_SHAPE)
        return []
    if len(value) > MAX_BANDS:
        errors.add(path, ERR_BANDS_MANY % {"n": MAX_BANDS})
        return []
    out: list[list[int | float]] = []
    prev: Decimal | None = None
    for j, band in enumerate(value):
        bpath = f"{path}.{j}"
        if not isinstance(band, (list, tuple)) or len(band) != 2:
            errors.add(bpath, ERR_BAND_SHAPE)
            continue
        try:
            bound, share = _decimal(band[0]), _decimal(band[1])
        except ValueError:
            errors.add(bpath, ERR_BAND_SHAPE)
            continue
        if bound is None or share is None or abs(bound) > MAX_BOUND:
            errors.add(bpath, ERR_BAND_SHAPE)
            continue
        if share < 0 or share > 1:
            errors.add(bpath, ERR_BAND_SHARE)
        if prev is not None and bound <= prev:
            errors.add(bpath, ERR_BAND_ORDER % {"prev": _json_number(prev), "bound": _json_number(bound)})
        prev = bound
        out.append([_json_number(bound), _json_number(share)])
    return out


def clean_factors(rows: Sequence[Mapping[str, Any]], *, prefix: str = "factors") -> list[dict[str, Any]]:
    """Factor rows ``{code, weight, scoring, bands, lower, upper, higher_is_better}`` checked as a set."""
    errors = Errors()
    if not rows:
        errors.add(prefix, ERR_NO_FACTORS)
        errors.raise_if_any()
    codes = set(FactorCode.values)
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        path = f"{prefix}.{i}"
        code = str(row.get("code") or "").strip()
        if code not in codes:
            errors.add(f"{path}.code", ERR_FACTOR_CODE)
        elif code in seen:
            errors.add(f"{path}.code", ERR_FACTOR_DUP)
        seen.add(code)
        weight: Decimal | None = None
        try:
            weight = _decimal(row.get("weight"))
        except ValueError:
            errors.add(f"{path}.weight", ERR_NUMBER)
        else:
            if weight is None:
                errors.add(f"{path}.weight", ERR_REQUIRED)
            elif weight < 0 or weight > MAX_WEIGHT:
                errors.add(f"{path}.weight", ERR_WEIGHT % {"max": MAX_WEIGHT})
                weight = None
            else:
                weight = weight.quantize(Decimal("0.01"))
        scoring = str(row.get("scoring") or Scoring.BANDS)
        if scoring not in Scoring.values:
            errors.add(f"{path}.scoring", ERR_SCORING)
        bands = clean_bands(row.get("bands"), path=f"{path}.bands", errors=errors)
        if scoring == Scoring.BANDS and not bands and f"{path}.bands" not in errors.data:
            errors.add(f"{path}.bands", ERR_BANDS_NEEDED)
        lower = upper = None
        try:
            lower = _decimal(row.get("lower"))
        except ValueError:
            errors.add(f"{path}.lower", ERR_NUMBER)
        try:
            upper = _decimal(row.get("upper"))
        except ValueError:
            errors.add(f"{path}.upper", ERR_NUMBER)
        for name, val in (("lower", lower), ("upper", upper)):
            if val is not None and abs(val) > MAX_BOUND:
                errors.add(f"{path}.{name}", ERR_NUMBER)
        if scoring == Scoring.LINEAR:
            if row.get("lower") in (None, "") or row.get("upper") in (None, ""):
                if f"{path}.lower" not in errors.data and f"{path}.upper" not in errors.data:
                    errors.add(f"{path}.lower" if lower is None else f"{path}.upper", ERR_LINEAR_BOUNDS)
            elif lower is not None and upper is not None and lower >= upper:
                errors.add(f"{path}.upper", ERR_LINEAR_ORDER)
        higher = row.get("higher_is_better", True)
        if isinstance(higher, str):
            higher = higher.lower() not in ("", "0", "false", "off", "no")
        out.append(
            {
                "code": code,
                "weight": weight,
                "scoring": scoring,
                "bands": bands,
                "lower": lower.quantize(Decimal("0.0001")) if lower is not None else None,
                "upper": upper.quantize(Decimal("0.0001")) if upper is not None else None,
                "higher_is_better": bool(higher),
            }
        )
    if not errors and not any(f["weight"] > 0 for f in out):
        errors.add(prefix, ERR_NO_WEIGHT)
    errors.raise_if_any()
    return out


def config_warnings(tiers: Iterable[Any], factors: Iterable[Any]) -> list[str]:
    """Things that are allowed but probably a mistake (a tier nobody can reach)."""

    def get(obj: Any, name: str) -> Any:
        return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name)

    total = sum((Decimal(get(f, "weight") or 0) for f in factors), Decimal("0"))
    out = []
    for t in tiers:
        score = Decimal(get(t, "min_score") or 0)
        if score > total:
            out.append(str(WARN_UNREACHABLE % {"tier": get(t, "name"), "score": score, "total": total}))
    return out


# --- serialising the configuration (audit, copies, the API) ------------------------------------------------


def tiers_of(model: TierModel) -> list[dict[str, Any]]:
    return [
        {"code": t.code, "name": t.name, "name_en": t.name_en, "rank": t.rank, "min_score": t.min_score}
        for t in Tier.objects.filter(model=model).order_by("rank")
    ]


def factors_of(model: TierModel) -> list[dict[str, Any]]:
    return [
        {
            "code": f.code,
            "weight": f.weight,
            "scoring": f.scoring,
            "bands": f.bands or [],
            "lower": f.lower,
            "upper": f.upper,
            "higher_is_better": f.higher_is_better,
        }
        for f in Factor.objects.filter(model=model).order_by("-weight", "code")
    ]


def _plain_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{k: (str(v) if isinstance(v, Decimal) else v) for k, v in r.items()} for r in rows]


# --- writes ------------------------------------------------------------------------------------------------


def _active_conflict(model: TierModel) -> TierModel | None:
    others = TierModel.objects.filter(is_active=True).exclude(pk=model.pk)
    if model.product_line_id is None:
        return others.filter(product_line__isnull=True).first()
    return others.filter(product_line_id=model.product_line_id).first()


def _conflict_error(model: TierModel, other: TierModel) -> ValidationError:
    if model.product_line_id is None:
        msg = ERR_ACTIVE_GLOBAL % {"other": other.name}
    else:
        msg = ERR_ACTIVE_LINE % {"other": other.name, "line": model.product_line}
    return ValidationError({"is_active": [str(msg)]})


def _save_active(model: TierModel, fields: list[str]) -> None:
    """Save; a race past the pre-check still ends as a clear error, not a 500."""
    try:
        with transaction.atomic():
            model.save(update_fields=fields) if model.pk else model.save()
    except IntegrityError:
        other = _active_conflict(model)
        if other is not None:
            raise _conflict_error(model, other)
        raise


def _touch(model: TierModel) -> None:
    TierModel.objects.filter(pk=model.pk).update(updated_at=timezone.now())


def _write_tiers(model: TierModel, tiers: Sequence[Mapping[str, Any]]) -> None:
    Tier.objects.filter(model=model).delete()
    Tier.objects.bulk_create(
        Tier(
            model=model,
            code=t["code"],
            name=t["name"],
            name_en=t.get("name_en", ""),
            rank=t["rank"],
            min_score=t["min_score"],
        )
        for t in tiers
    )


def _write_factors(model: TierModel, factors: Sequence[Mapping[str, Any]]) -> None:
    Factor.objects.filter(model=model).delete()
    Factor.objects.bulk_create(
        Factor(
            model=model,
            code=f["code"],
            weight=f["weight"],
            scoring=f["scoring"],
            bands=f["bands"],
            lower=f["lower"],
            upper=f["upper"],
            higher_is_better=f["higher_is_better"],
        )
        for f in factors
    )


@transaction.atomic
def tier_model_create(
    *,
    actor: Any,
    code: str,
    name: str,
    product_line: Any = None,
    description: str = "",
    hysteresis_margin: Any = Decimal("2"),
    hysteresis_runs: Any = 2,
    tiers: Sequence[Mapping[str, Any]] | None = None,
    factors: Sequence[Mapping[str, Any]] | None = None,
    is_active: bool = False,
) -> TierModel:
    """A new model (inactive unless asked), with its tiers and factors when given."""
    _require_admin(actor)
    errors: dict[str, list[str]] = {}
    fields: dict[str, Any] = {}
    clean_tiers_out = clean_factors_out = None
    try:
        fields = clean_model_fields(
            {
                "code": code,
                "name": name,
                "product_line": product_line,
                "description": description,
                "hysteresis_margin": hysteresis_margin,
                "hysteresis_runs": hysteresis_runs,
            }
        )
    except ValidationError as e:
        errors.update(e.message_dict)
    if tiers is not None:
        try:
            clean_tiers_out = clean_tiers(tiers)
        except ValidationError as e:
            errors.update(e.message_dict)
    if factors is not None:
        try:
            clean_factors_out = clean_factors(factors)
        except ValidationError as e:
            errors.update(e.message_dict)
    if errors:
        raise ValidationError(errors)
    model = TierModel(**fields, is_active=False)
    model.save()
    if clean_tiers_out is not None:
        _write_tiers(model, clean_tiers_out)
    if clean_factors_out is not None:
        _write_factors(model, clean_factors_out)
    audit_create(actor=actor, obj=model)
    if clean_tiers_out is not None:
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            obj=model,
            verb=VERB_TIERS,
            changes={"tiers": [[], _plain_rows(clean_tiers_out)]},
        )
    if clean_factors_out is not None:
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            obj=model,
            verb=VERB_FACTORS,
            changes={"factors": [[], _plain_rows(clean_factors_out)]},
        )
    if is_active:
        tier_model_activate(actor=actor, model=model)
    return model


@transaction.atomic
def tier_model_update(*, actor: Any, model: TierModel, **changes: Any) -> TierModel:
    """Change the model's own fields (code, name, product line, description, hysteresis)."""
    _require_admin(actor)
    unknown = set(changes) - set(MODEL_FIELDS)
    if unknown:
        raise ValidationError({k: [str(ERR_REQUIRED)] for k in sorted(unknown)})
    fields = clean_model_fields(changes, instance=model)
    model.is_active = (
        TierModel.objects.select_for_update().values_list("is_active", flat=True).get(pk=model.pk)
    )
    before = snapshot(model)
    for k, v in fields.items():
        setattr(model, k, v)
    if "product_line" in fields and model.is_active:
        other = _active_conflict(model)
        if other is not None:
            err = _conflict_error(model, other)
            raise ValidationError({"product_line": err.message_dict["is_active"]})
    try:
        _save_active(model, [*fields.keys(), "updated_at"] if fields else ["updated_at"])
    except ValidationError as e:
        raise ValidationError({"product_line": e.message_dict.get("is_active", e.messages)})
    audit_update(actor=actor, obj=model, before=before)
    return model


@transaction.atomic
def tier_model_set_tiers(*, actor: Any, model: TierModel, tiers: Sequence[Mapping[str, Any]]) -> list[Tier]:
    """Replace the model's tiers by ``tiers`` (validated as a set)."""
    _require_admin(actor)
    clean = clean_tiers(tiers)
    before = tiers_of(model)
    _write_tiers(model, clean)
    after = tiers_of(model)
    if _plain_rows(before) != _plain_rows(after):
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            obj=model,
            verb=VERB_TIERS,
            changes={"tiers": [_plain_rows(before), _plain_rows(after)]},
        )
        _touch(model)
    return list(Tier.objects.filter(model=model).order_by("rank"))


@transaction.atomic
def tier_model_set_factors(
    *, actor: Any, model: TierModel, factors: Sequence[Mapping[str, Any]]
) -> list[Factor]:
    """Replace the model's factors by ``factors`` (validated as a set)."""
    _require_admin(actor)
    clean = clean_factors(factors)
    before = factors_of(model)
    _write_factors(model, clean)
    after = factors_of(model)
    if _plain_rows(before) != _plain_rows(after):
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            obj=model,
            verb=VERB_FACTORS,
            changes={"factors": [_plain_rows(before), _plain_rows(after)]},
        )
        _touch(model)
    return list(Factor.objects.filter(model=model).order_by("-weight", "code"))


@transaction.atomic
def tier_model_configure(
    *,
    actor: Any,
    model: TierModel,
    fields: Mapping[str, Any],
    tiers: Sequence[Mapping[str, Any]],
    factors: Sequence[Mapping[str, Any]],
) -> TierModel:
    """The editor's save: own fields, tiers and factors together — all saved, or none with every error."""
    _require_admin(actor)
    errors: dict[str, list[str]] = {}
    for fn, arg in (
        (lambda d: clean_model_fields(d, instance=model), fields),
        (clean_tiers, tiers),
        (clean_factors, factors),
    ):
        try:
            fn(arg)
        except ValidationError as e:
            errors.update(e.message_dict)
    if errors:
        raise ValidationError(errors)
    tier_model_update(actor=actor, model=model, **dict(fields))
    tier_model_set_tiers(actor=actor, model=model, tiers=tiers)
    tier_model_set_factors(actor=actor, model=model, factors=factors)
    return model


@transaction.atomic
def tier_model_activate(*, actor: Any, model: TierModel) -> TierModel:
    """Make the model the one in force for its product line (or the global one)."""
    _require_admin(actor)
    model = TierModel.objects.select_for_update().get(pk=model.pk)
    if model.is_active:
        return model
    if (
        not Tier.objects.filter(model=model).exists()
        or not Factor.objects.filter(model=model, weight__gt=0).exists()
    ):
        raise ValidationError({"is_active": [str(ERR_ACTIVATE_EMPTY)]})
    other = _active_conflict(model)
    if other is not None:
        raise _conflict_error(model, other)
    model.is_active = True
    _save_active(model, ["is_active", "updated_at"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=model,
        verb=VERB_ACTIVATE,
        changes={"is_active": [False, True]},
    )
    return model


@transaction.atomic
def tier_model_deactivate(*, actor: Any, model: TierModel) -> TierModel:
    """Stop using the model: no more runs; its customers keep their last tier until another model runs."""
    _require_admin(actor)
    model = TierModel.objects.select_for_update().get(pk=model.pk)
    if not model.is_active:
        return model
    model.is_active = False
    model.save(update_fields=["is_active", "updated_at"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=model,
        verb=VERB_DEACTIVATE,
        changes={"is_active": [True, False]},
    )
    return model


@transaction.atomic
def tier_model_copy(
    *,
    actor: Any,
    source: TierModel,
    product_line: Any,
    code: str | None = None,
    name: str | None = None,
) -> TierModel:
    """A copy of ``source`` (usually the global model) for ``product_line``, inactive until reviewed."""
    _require_admin(actor)
    if product_line is None:
        raise ValidationError({"product_line": [str(ERR_COPY_SAME_LINE)]})
    base = f"{source.code}-{str(product_line.code).lower()}"
    code = code or _free_code(re.sub(r"[^-a-zA-Z0-9_]", "-", base)[:40])
    name = name or f"{source.name} · {product_line.name}"[:100]
    model = tier_model_create(
        actor=actor,
        code=code,
        name=name,
        product_line=product_line,
        description=source.description,
        hysteresis_margin=source.hysteresis_margin,
        hysteresis_runs=source.hysteresis_runs,
        tiers=tiers_of(source),
        factors=factors_of(source),
    )
    audit_record(
        actor=actor,
        action=AuditAction.ACTION,
        obj=model,
        verb=VERB_COPY,
        extra={"source": source.pk, "product_line": product_line.pk},
    )
    return model


def _free_code(base: str) -> str:
    code, n = base, 2
    while TierModel.objects.filter(code=code).exists():
        suffix = f"-{n}"
        code = f"{base[: 40 - len(suffix)]}{suffix}"
        n += 1
    return code


@transaction.atomic
def tier_model_delete(*, actor: Any, model: TierModel) -> None:
    """Delete a model that never ran and is not active (its tiers and factors go with it)."""
    _require_admin(actor)
    if model.is_active:
        raise ValidationError(str(ERR_DELETE_ACTIVE))
    if AssessmentRun.objects.filter(model=model).exists():
        raise ValidationError(str(ERR_HAS_RUNS))
    audit_delete(actor=actor, obj=model)
    try:
        model.delete()
    except ProtectedError:
        raise ValidationError(str(ERR_HAS_RUNS))


# --- preview and runs -------------------------------------------------------------------------------------


def _engine() -> Any:
    from steelyard.tiering.services import assessment

    if not hasattr(assessment, "assessment_preview"):
        raise ValidationError(str(ERR_NO_ENGINE))
    return assessment


def _overrides_fit(
    model: TierModel,
    fields: Mapping[str, Any],
    tiers: Sequence[Mapping[str, Any]],
    factors: Sequence[Mapping[str, Any]],
) -> dict[str, Any] | None:
    """The change as the engine's preview overrides (weights, thresholds, bands), or None when it is more.

    More means: tiers or factors added, removed or renamed to other codes, a changed rank, scoring,
    linear range or direction, or changed hysteresis — then the preview applies the whole change in a
    transaction that is rolled back.
    """
    if model.pk is None:
        return None
    for key in ("hysteresis_margin", "hysteresis_runs"):
        if key in fields and Decimal(str(fields[key])) != Decimal(str(getattr(model, key))):
            return None
    saved_tiers = {t["code"]: t for t in tiers_of(model)}
    saved_factors = {f["code"]: f for f in factors_of(model)}
    if set(saved_tiers) != {t["code"] for t in tiers} or set(saved_factors) != {f["code"] for f in factors}:
        return None
    thresholds: dict[str, Decimal] = {}
    for t in tiers:
        old = saved_tiers[t["code"]]
        if old["rank"] != t["rank"]:
            return None
        if old["min_score"] != t["min_score"]:
            thresholds[t["code"]] = t["min_score"]
    weights: dict[str, Decimal] = {}
    bands: dict[str, list] = {}
    for f in factors:
        old = saved_factors[f["code"]]
        if (
            old["scoring"] != f["scoring"]
            or old["lower"] != f["lower"]
            or old["upper"] != f["upper"]
            or old["higher_is_better"] != f["higher_is_better"]
        ):
            return None
        if old["weight"] != f["weight"]:
            weights[f["code"]] = f["weight"]
        if [[Decimal(str(x)) for x in b] for b in old["bands"]] != [
            [Decimal(str(x)) for x in b] for b in f["bands"]
        ]:
            bands[f["code"]] = f["bands"]
    return {"weights": weights or None, "thresholds": thresholds or None, "bands": bands or None}


class _Rollback(Exception):
    pass


def tier_model_preview(
    *,
    actor: Any,
    model: TierModel | None,
    fields: Mapping[str, Any] | None = None,
    tiers: Sequence[Mapping[str, Any]],
    factors: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """What a run would do with these unsaved settings: ``{"customers", "changed", "migration"}``.

    Nothing is saved. Weight, threshold and band changes go to the engine's ``assessment_preview`` as
    overrides; bigger changes (a new model, tiers or factors added or removed...) are applied inside a
    transaction that is always rolled back, and previewed from there.
    """
    _require_admin(actor)
    engine = _engine()
    fields = dict(fields or {})
    errors: dict[str, list[str]] = {}
    clean_t: list[dict[str, Any]] = []
    clean_f: list[dict[str, Any]] = []
    try:
        clean_model_fields(
            {k: v for k, v in fields.items() if k in ("hysteresis_margin", "hysteresis_runs")}, instance=model
        )
    except ValidationError as e:
        errors.update(e.message_dict)
    try:
        clean_t = clean_tiers(tiers)
    except ValidationError as e:
        errors.update(e.message_dict)
    try:
        clean_f = clean_factors(factors)
    except ValidationError as e:
        errors.update(e.message_dict)
    if errors:
        raise ValidationError(errors)
    overrides = _overrides_fit(model, fields, clean_t, clean_f) if model is not None else None
    if overrides is not None:
        result = engine.assessment_preview(model=model, **overrides)
    else:
        result = _preview_rolled_back(engine, model, fields, clean_t, clean_f)
    result = dict(result)
    result["warnings"] = config_warnings(clean_t, clean_f)
    return result


def _preview_rolled_back(
    engine: Any,
    model: TierModel | None,
    fields: Mapping[str, Any],
    tiers: Sequence[Mapping[str, Any]],
    factors: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    holder: dict[str, Any] = {}
    try:
        with transaction.atomic():
            if model is None or model.pk is None:
                target = TierModel(
                    code=_free_code("preview"),
                    name=str(fields.get("name") or "preview"),
                    product_line=fields.get("product_line") or None,
                    hysteresis_margin=fields.get("hysteresis_margin", Decimal("2")),
                    hysteresis_runs=fields.get("hysteresis_runs", 2),
                    is_active=False,
                )
                target.save()
            else:
                target = TierModel.objects.get(pk=model.pk)
                for key in ("hysteresis_margin", "hysteresis_runs"):
                    if key in fields:
                        setattr(target, key, fields[key])
                target.save(update_fields=["hysteresis_margin", "hysteresis_runs"])
            _write_tiers(target, tiers)
            _write_factors(target, factors)
            holder["result"] = engine.assessment_preview(model=target)
            raise _Rollback
    except _Rollback:
        pass
    return holder["result"]


def assessment_run_start(*, actor: Any, model: TierModel) -> Any:
    """Enqueue the engine's ``assess_model`` for ``model``; returns the Job (its page shows progress)."""
    from steelyard.core.tasks import enqueue_job

    _require_admin(actor)
    if not model.is_active:
        raise ValidationError(str(ERR_RUN_INACTIVE))
    try:
        from steelyard.tiering.tasks import assess_model
    except ImportError:
        raise ValidationError(str(ERR_NO_ENGINE))
    job = enqueue_job(
        assess_model,
        actor=actor,
        label=str(_("Tier assessment: %(model)s") % {"model": model.name}),
        args=[model.pk],
    )
    audit_record(actor=actor, action=AuditAction.ACTION, obj=model, verb=VERB_RUN, extra={"job": str(job.pk)})
    return job


def preview_overrides_for(
    model: TierModel,
    *,
    weights: Mapping[str, Any] | None = None,
    thresholds: Mapping[str, Any] | None = None,
    bands: Mapping[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The model's saved tiers and factors with the API's preview overrides applied (unknown codes → errors)."""
    errors = Errors()
    tiers = tiers_of(model)
    factors = factors_of(model)
    by_tier = {t["code"]: t for t in tiers}
    by_factor = {f["code"]: f for f in factors}
    for code, value in (thresholds or {}).items():
        if code not in by_tier:
            errors.add(f"thresholds.{code}", ERR_UNKNOWN_TIER % {"code": code})
        else:
            by_tier[code]["min_score"] = value
    for code, value in (weights or {}).items():
        if code not in by_factor:
            errors.add(f"weights.{code}", ERR_UNKNOWN_FACTOR % {"code": code})
        else:
            by_factor[code]["weight"] = value
    for code, value in (bands or {}).items():
        if code not in by_factor:
            errors.add(f"bands.{code}", ERR_UNKNOWN_FACTOR % {"code": code})
        else:
            by_factor[code]["bands"] = value
    errors.raise_if_any()
    return tiers, factors
