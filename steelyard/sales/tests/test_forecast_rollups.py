"""Roll-ups: every figure of the tree is exactly the sum of its parts, for any cells (hypothesis), and the
org tree is assembled and scoped the way the forecast page promises."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from steelyard.orders.testing import make_product_line
from steelyard.org.models import OrgUnit, User
from steelyard.sales.models import ForecastAdjustment, ForecastCell
from steelyard.sales.selectors import forecast as sel
from steelyard.sales.services.forecast import cell_key

pytestmark = pytest.mark.django_db

NO_UNIT = str(sel.LABEL_NO_UNIT)
MONTHS = [dt.date(2026, 6, 1), dt.date(2026, 7, 1), dt.date(2026, 8, 1)]
CATEGORIES = ["pipeline", "best_case", "commit", "won", "lost", "omitted"]
Q = sel.ForecastQuery(months=MONTHS)


def put_cells(cells: list[tuple[User, OrgUnit | None, int, dt.date, str, int, int, int]]) -> None:
    """Cells keyed like the real ones; repeated keys add up (as the deltas do)."""
    merged: dict[str, list] = {}
    for owner, unit, line_id, month, category, count, amount, weighted in cells:
        key = cell_key(owner.pk, unit.pk if unit else None, line_id, month, category)
        if key in merged:
            merged[key][5] += count
            merged[key][6] += amount
            merged[key][7] += weighted
        else:
            merged[key] = [owner, unit, line_id, month, category, count, amount, weighted]
    ForecastCell.objects.bulk_create(
        ForecastCell(
            key=key,
            owner=o,
            org_unit=u,
            product_line_id=line_id,
            month=m,
            category=c,
            count=n,
            amount_cents=a,
            weighted_cents=w,
        )
        for key, (o, u, line_id, m, c, n, a, w) in merged.items()
    )


def assert_parts_add_up(tree: sel.Tree) -> None:
    measures = list(sel.SUMMARY_MEASURES)
    for node in [tree.total, *tree.nodes.values()]:
        parts = tree.roots if node is tree.total else node.children
        for month in [*tree.months, None]:
            s = node.s()
            assert s.amount(month, "commit_rollup") == s.amount(month, "commit") + s.amount(month, "won")
            assert s.amount(month, "best_case_rollup") == (
                s.amount(month, "best_case") + s.amount(month, "commit") + s.amount(month, "won")
            )
            assert s.amount(month, "pipeline_rollup") == (
                s.amount(month, "pipeline")
                + s.amount(month, "best_case")
                + s.amount(month, "commit")
                + s.amount(month, "won")
            )
            if node.kind == sel.PERSON:
                continue
            for measure in measures:
                assert node.value(month, measure) == sum(p.value(month, measure) for p in parts), (
                    node.key,
                    month,
                    measure,
                )
                for category in sel.ADJUSTABLE:
                    if month is None:  # the months' total is the sum of the months
                        expected = sum(node.adjusted_value(m, category, tree.months) for m in tree.months)
                    elif (month, category) in node.adjustment:  # its own adjustment replaces its parts
                        expected = sel.money_to_cents(node.adjustment[(month, category)].amount)
                    else:
                        expected = sum(p.adjusted_value(month, category, tree.months) for p in parts)
                    assert node.adjusted_value(month, category, tree.months) == expected
        if month is None:
            assert node.value(None, "weighted") == sum(node.value(m, "weighted") for m in tree.months)


def sql_sum(qs, month: dt.date, parts: tuple[str, ...], field: str = "amount_cents") -> int:
    return qs.filter(month=month, category__in=parts).aggregate(s=Sum(field))["s"] or 0


cell_strategy = st.tuples(
    st.integers(0, 5),  # owner
    st.integers(0, 3),  # unit choice: own, none, other, parent
    st.integers(0, 1),  # product line
    st.sampled_from(MONTHS),
    st.sampled_from(CATEGORIES),
    st.integers(1, 3),
    st.integers(-5_000_000_00, 50_000_000_00),
    st.integers(0, 50_000_000_00),
)


adjustment_strategy = st.tuples(
    st.integers(0, 9),  # subject: a person (0–5) or a unit (6–9)
    st.sampled_from(MONTHS),
    st.sampled_from(["commit", "best_case", "pipeline"]),
    st.integers(0, 10_000_000_00),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cells=st.lists(cell_strategy, min_size=0, max_size=40),
    adjustments=st.lists(adjustment_strategy, max_size=6),
)
def test_every_rollup_is_exactly_the_sum_of_its_parts(personas, cells, adjustments):
    ForecastCell.objects.all().delete()
    ForecastAdjustment.objects.all().delete()
    lines = [make_product_line("CRANE").pk, make_product_line("ENGINE").pk]
    people = [personas.alice, personas.bob, personas.charlie, personas.dora, personas.admin]
    extra = User.objects.filter(username="eve").first() or User.objects.create(
        username="eve", org_unit=personas.shanghai, manager=personas.dora
    )
    people.append(extra)
    units = {
        0: lambda u: u.org_unit,
        1: lambda u: None,
        2: lambda u: personas.team_c,
        3: lambda u: u.org_unit.parent if u.org_unit and u.org_unit.parent else u.org_unit,
    }
    put_cells(
        [
            (people[o], units[uc](people[o]), lines[li], m, c, n, a, w if c not in ("lost", "omitted") else 0)
            for o, uc, li, m, c, n, a, w in cells
        ]
    )
    subject_units = [personas.team_a, personas.shanghai, personas.east, personas.team_c]
    for subject, month, category, cents in adjustments:
        target = (
            {"subject_user": people[subject]} if subject < 6 else {"subject_unit": subject_units[subject - 6]}
        )
        if target.get("subject_user") == personas.admin:
            continue
        ForecastAdjustment.objects.create(
            author=personas.admin, month=month, category=category, amount=Decimal(cents) / 100, **target
        )
    for viewer in (personas.admin, personas.dora, personas.bob, personas.alice):
        tree = sel.forecast_tree(viewer, Q)
        assert_parts_add_up(tree)
        visible = ForecastCell.objects.visible_to(viewer)
        for month in MONTHS:
            for measure, parts in sel.MEASURE_PARTS.items():
                field = "weighted_cents" if measure == "weighted" else "amount_cents"
                assert tree.total.value(month, measure) == sql_sum(visible, month, parts, field)
        # Each unit's total is exactly its subtree's cells.
        for node in tree.nodes.values():
            if node.kind == sel.UNIT:
                subtree = visible.filter(org_unit__path__startswith=node.path)
                for month in MONTHS:
                    assert node.value(month, "pipeline_rollup") == sql_sum(
                        subtree, month, sel.MEASURE_PARTS["pipeline_rollup"]
                    )


@pytest.fixture
def world(personas):
    line = make_product_line("CRANE")
    june = MONTHS[0]
    p = personas
    put_cells(
        [
            (p.alice, p.team_a, line.pk, june, "commit", 1, 100_00, 70_00),
            (p.alice, p.team_a, line.pk, june, "won", 1, 40_00, 40_00),
            (p.bob, p.team_a, line.pk, june, "best_case", 1, 30_00, 12_00),
            (p.dora, p.east, line.pk, june, "pipeline", 1, 1000_00, 100_00),
            (p.charlie, p.team_c, line.pk, june, "commit", 1, 7777_00, 5000_00),
            (p.alice, None, line.pk, june, "commit", 1, 5_00, 1_00),
        ]
    )
    return line


def shape(tree: sel.Tree) -> list[tuple[int, str]]:
    return [(n.depth, n.name) for n in tree.rows()]


def test_org_tree_per_viewer(personas, world):
    p = personas
    june = MONTHS[0]
    admin = sel.forecast_tree(p.admin, Q)
    assert shape(admin) == [
        (0, "Steelyard Group"),
        (1, "East China"),
        (2, "Shanghai Branch"),
        (3, "Shanghai Crane Team"),
        (4, "Alice"),
        (4, "Bob"),
        (2, "Dora"),
        (1, "North China"),
        (2, "Beijing Branch"),
        (3, "Beijing Engine Team"),
        (4, "Charlie"),
        (0, NO_UNIT),
        (1, "Alice"),
    ]
    group = admin.nodes[f"u{p.group.pk}"]
    east = admin.nodes[f"u{p.east.pk}"]
    team = admin.nodes[f"u{p.team_a.pk}"]
    assert team.value(june, "commit_rollup") == 140_00
    assert team.value(june, "best_case_rollup") == 170_00
    assert east.value(june, "pipeline_rollup") == 170_00 + 1000_00  # its team + dora's own
    assert group.value(june, "commit") == 100_00 + 7777_00
    assert admin.total.value(june, "commit") == 100_00 + 7777_00 + 5_00
    assert admin.total.value(june, "weighted") == 70_00 + 40_00 + 12_00 + 100_00 + 5000_00 + 1_00

    # A director sees her subtree from her own unit down (the cells of her people without a unit too).
    dora = sel.forecast_tree(p.dora, Q)
    assert shape(dora)[:5] == [
        (0, "East China"),
        (1, "Shanghai Branch"),
        (2, "Shanghai Crane Team"),
        (3, "Alice"),
        (3, "Bob"),
    ]
    assert "Charlie" not in [n for _d, n in shape(dora)]
    assert dora.total.value(june, "pipeline_rollup") == 170_00 + 1000_00 + 5_00

    # A manager: his team; a rep: herself; the outsider: himself only.
    bob = sel.forecast_tree(p.bob, Q)
    assert shape(bob) == [
        (0, "Shanghai Crane Team"),
        (1, "Alice"),
        (1, "Bob"),
        (0, NO_UNIT),
        (1, "Alice"),
    ]
    alice = sel.forecast_tree(p.alice, Q)
    assert alice.total.value(june, "commit_rollup") == 100_00 + 40_00 + 5_00
    assert {n.name for n in alice.people()} == {"Alice"}
    charlie = sel.forecast_tree(p.charlie, Q)
    assert charlie.total.value(june, "commit") == 7777_00
    assert {n.name for n in charlie.people()} == {"Charlie"}


def test_unit_and_product_line_filters(personas, world):
    p = personas
    june = MONTHS[0]
    engine = make_product_line("ENGINE")
    put_cells([(p.alice, p.team_a, engine.pk, june, "commit", 1, 9_00, 9_00)])
    only_team = sel.forecast_tree(p.admin, sel.ForecastQuery(months=MONTHS, unit=p.team_a))
    assert shape(only_team) == [(0, "Shanghai Crane Team"), (1, "Alice"), (1, "Bob")]
    assert only_team.total.value(june, "commit") == 109_00
    crane = sel.forecast_tree(
        p.admin, sel.ForecastQuery(months=MONTHS, product_line_id=world.pk, unit=p.team_a)
    )
    assert crane.total.value(june, "commit") == 100_00
    # Months outside the range are left out.
    later = sel.forecast_tree(p.admin, sel.ForecastQuery(months=[dt.date(2026, 9, 1)]))
    assert later.roots == [] and later.total.value(None, "pipeline_rollup") == 0


def test_within_a_unit_gives_the_same_rows_as_the_whole_tree(personas, world):
    p = personas
    whole = sel.forecast_tree(p.admin, Q)
    part = sel.forecast_tree(p.admin, Q, within=p.shanghai)
    for key in (f"u{p.shanghai.pk}", f"u{p.team_a.pk}", f"p{p.team_a.pk}-{p.alice.pk}"):
        for m in MONTHS:
            for measure in sel.SUMMARY_MEASURES:
                assert part.nodes[key].value(m, measure) == whole.nodes[key].value(m, measure)
    nothing = sel.forecast_tree(p.admin, Q, within=sel.NO_UNIT)
    assert [n.name for n in nothing.rows()] == [NO_UNIT, "Alice"]


def test_the_forecast_reads_cells_only(personas, world, django_assert_max_num_queries):
    """One grouped query over the cells, the units, their ancestors, the people and adjustments."""
    with django_assert_max_num_queries(8):
        tree = sel.forecast_tree(personas.dora, Q)
    assert tree.roots


def test_sums_are_exact_integers(personas):
    big = 12_345_678_901_23  # ¥123,456,789,012.3 in cents, beyond float precision once added up
    line = make_product_line("CRANE")
    cells = defaultdict(int)
    rows = []
    for i, user in enumerate([personas.alice, personas.bob]):
        for k in range(3):
            amount = big + i * 7 + k
            rows.append((user, personas.team_a, line.pk, MONTHS[k], "commit", 1, amount, amount))
            cells[MONTHS[k]] += amount
    put_cells(rows)
    tree = sel.forecast_tree(personas.admin, Q)
    assert tree.total.value(None, "commit") == sum(cells.values())
    assert sel.cents_to_money(tree.total.value(MONTHS[0], "commit")) == sel.cents_to_money(cells[MONTHS[0]])
