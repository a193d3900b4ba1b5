"""Tests of query encoding in mpc.queries, over an in-memory TableSource.

The expected aggregates are worked out by hand from the PEOPLE table
below, and the comment next to each case shows the arithmetic.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from mpc.dp import NoisePlan
from mpc.field import HALF
from mpc.queries import (
    NO_NOISE_BOUND,
    QueryError,
    TableSource,
    check_field_fit,
    decode_results,
    default_max_records,
    element_bounds,
    element_noise_plans,
    local_aggregate,
    mean_centre,
    noise_plans,
    sensitivities,
    statement,
)
from mpc.spec import JobSpec, Query, parse_query, parse_spec
from mpc.validity import ElementBound, InputStatement

PEOPLE = {
    "age": np.array([25, 40, 61, 17, 90, 33, 52, 8]),
    "income": np.array([">50K", "<=50K", " >50K", "<=50K", ">50K ",
                        "<=50K", ">50K", "<=50K"], dtype=object),
    "hours": np.array([40, "38.5", "n/a", math.nan, math.inf, 60, "",
                       -3], dtype=object),
    "sex": np.array(["Male", "Female", "Male", "Other", "Female", "Male",
                     " Male", "Female"], dtype=object),
}
# Present hours: 40, 38.5, 60, -3. Missing: "n/a", NaN, inf and "".
MISSING_HOURS = 4
SOURCE = TableSource({"people": PEOPLE, "empty": {}})
N = 8
PARTIES = ["alice", "bob", "carol"]


def query(**fields: Any) -> Query:
    """Parse one query table, with dataset "people" by default."""
    fields.setdefault("dataset", "people")
    if fields["kind"] == "vector":
        del fields["dataset"]
    return parse_query(fields, 0)


def where(column: str, op: str, value: str | float) -> dict[str, Any]:
    return {"column": column, "op": op, "value": value}


# Data source --------------------------------------------------------------


def test_table_source_row_count() -> None:
    assert SOURCE.row_count("people") == N
    assert SOURCE.row_count("empty") == 0


def test_table_source_numeric_marks_missing() -> None:
    hours = SOURCE.numeric("people", "hours")
    assert hours.dtype == np.float64
    assert hours[~np.isnan(hours)].tolist() == [40.0, 38.5, 60.0, -3.0]


def test_table_source_text_strips() -> None:
    assert SOURCE.text("people", "sex")[6] == "Male"


# Local aggregates ---------------------------------------------------------


COUNT_CASES = [
    pytest.param(None, 8, id="no-filter"),
    # Stripped text: rows 0, 2, 4 and 6 are ">50K".
    pytest.param(where("income", "==", ">50K"), 4, id="text-eq"),
    pytest.param(where("income", "==", " >50K "), 4, id="text-eq-padded"),
    pytest.param(where("income", "!=", ">50K"), 4, id="text-ne"),
    pytest.param(where("sex", "==", "Other"), 1, id="text-other"),
    pytest.param(where("sex", "==", "male"), 0, id="text-case"),
    pytest.param(where("age", "==", 40), 1, id="num-eq"),
    pytest.param(where("age", "!=", 40), 7, id="num-ne"),
    pytest.param(where("age", "<", 18), 2, id="num-lt"),
    pytest.param(where("age", "<=", 25), 3, id="num-le"),
    pytest.param(where("age", ">", 50), 3, id="num-gt"),
    pytest.param(where("age", ">=", 61), 2, id="num-ge"),
    # Missing hours never pass a numeric filter, not even "!=".
    pytest.param(where("hours", ">", 30), 3, id="num-gt-missing"),
    pytest.param(where("hours", "!=", 40), 3, id="num-ne-missing"),
]


@pytest.mark.parametrize(("flt", "expected"), COUNT_CASES)
def test_local_aggregate_count(flt: dict | None, expected: int) -> None:
    fields: dict[str, Any] = {"kind": "count"}
    if flt is not None:
        fields["filter"] = flt
    assert local_aggregate(query(**fields), SOURCE) == ([expected], 0)


SUM_CASES = [
    # Clipped to [0, 50]: 40 + 38.5 + 50 + 0, at scale 1.
    pytest.param([0, 50], 1, None, [1285], MISSING_HOURS, id="clip-high"),
    # Clipped to [0, 50] at scale 0: rint(38.5) = 38 (half to even).
    pytest.param([0, 50], 0, None, [128], MISSING_HOURS, id="scale-0"),
    # Clipped to [-10, 100]: 40 + 38.5 + 60 - 3, at scale 2.
    pytest.param([-10, 100], 2, None, [13550], MISSING_HOURS,
                 id="no-clip-scale-2"),
    # Clipped to [39, 45]: 40 + 39 + 45 + 39.
    pytest.param([39, 45], 0, None, [163], MISSING_HOURS, id="clip-low"),
    # Clipped to [-5, -1]: -1 - 1 - 1 - 3.
    pytest.param([-5, -1], 0, None, [-6], MISSING_HOURS, id="negative"),
    # Men: hours 40, "n/a", 60 and "" clipped to [0, 50].
    pytest.param([0, 50], 0, where("sex", "==", "Male"), [90], 2,
                 id="filtered"),
]


@pytest.mark.parametrize(("clip", "scale", "flt", "elements", "dropped"),
                         SUM_CASES)
def test_local_aggregate_sum(clip: list[float], scale: int,
                             flt: dict | None, elements: list[int],
                             dropped: int) -> None:
    q = query(kind="sum", column="hours", clip=clip, scale=scale,
              filter=flt)
    assert local_aggregate(q, SOURCE) == (elements, dropped)


def test_local_aggregate_mean_age() -> None:
    # Clip [17, 90], centre 53. Clipped ages sum to 335 over 8 records,
    # so the centred sum is 335 - 8 * 53 = -89.
    q = query(kind="mean", column="age", clip=[17, 90])
    assert mean_centre(q) == 53
    assert local_aggregate(q, SOURCE) == ([-89, 8], 0)


def test_local_aggregate_mean_hours_scaled() -> None:
    # Clip [0, 80] at scale 1 is [0, 800], centre 400. Present hours
    # 400, 385, 600, 0 give the centred sum 0 - 15 + 200 - 400 = -215.
    q = query(kind="mean", column="hours", clip=[0, 80], scale=1)
    assert mean_centre(q) == 400
    assert local_aggregate(q, SOURCE) == ([-215, 4], MISSING_HOURS)


def test_local_aggregate_histogram_bins() -> None:
    # Bins [10, 35), [35, 60), [60, 85): 90 and 8 fall outside.
    q = query(kind="histogram", column="age",
              bins={"start": 10, "width": 25, "count": 3})
    assert local_aggregate(q, SOURCE) == ([3, 2, 1], 0)


def test_local_aggregate_histogram_drops_missing() -> None:
    # Bins [0, 20), [20, 40), [40, 60): 40 is in the last bin, and 60 and
    # -3 fall outside.
    q = query(kind="histogram", column="hours",
              bins={"start": 0, "width": 20, "count": 3})
    assert local_aggregate(q, SOURCE) == ([0, 1, 1], MISSING_HOURS)


def test_local_aggregate_histogram_bin_edges() -> None:
    source = TableSource({"people": {"x": np.array([0.0, 1.0, 2.0, 3.0])}})
    q = query(kind="histogram", column="x",
              bins={"start": 0, "width": 1, "count": 3})
    assert local_aggregate(q, source) == ([1, 1, 1], 0)


def test_local_aggregate_histogram_categories() -> None:
    # "Other" is in no category and is not counted.
    q = query(kind="histogram", column="sex",
              categories=["Male", "Female"])
    assert local_aggregate(q, SOURCE) == ([4, 3], 0)


def test_local_aggregate_histogram_categories_filtered() -> None:
    q = query(kind="histogram", column="sex", categories=["Male", "Female"],
              filter=where("income", "==", ">50K"))
    assert local_aggregate(q, SOURCE) == ([3, 1], 0)


def test_local_aggregate_all_missing() -> None:
    source = TableSource({"people": {"x": np.array(["", "n/a", None],
                                                   dtype=object)}})
    q = query(kind="mean", column="x", clip=[0, 10])
    assert local_aggregate(q, source) == ([0, 0], 3)


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"kind": "sum", "column": "salary", "clip": [0, 1]},
                     id="sum"),
        pytest.param({"kind": "histogram", "column": "salary",
                      "categories": ["a"]}, id="categories"),
        pytest.param({"kind": "count",
                      "filter": where("salary", ">", 1)}, id="filter"),
    ],
)
def test_local_aggregate_missing_column(fields: dict[str, Any]) -> None:
    with pytest.raises(QueryError, match="column 'salary'"):
        local_aggregate(query(**fields), SOURCE)


def test_local_aggregate_missing_dataset() -> None:
    q = query(kind="count", dataset="census")
    with pytest.raises(QueryError, match="dataset 'census'"):
        local_aggregate(q, SOURCE)


# Declared bounds ----------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "expected"),
    [(0, 1), (1, 1), (2, 2), (3, 4), (1000, 1024), (1024, 1024),
     (1025, 2048)],
)
def test_default_max_records(rows: int, expected: int) -> None:
    assert default_max_records(rows) == expected


def bounds(*pairs: tuple[int, int]) -> list[ElementBound]:
    return [ElementBound(lo, hi) for lo, hi in pairs]


BOUND_CASES = [
    pytest.param({"kind": "count"}, bounds((0, N)), id="count"),
    # Sum in [n min(lo, 0), n max(hi, 0)], in scaled units.
    pytest.param({"kind": "sum", "column": "age", "clip": [-2.5, 4],
                  "scale": 1}, bounds((-25 * N, 40 * N)), id="sum-mixed"),
    pytest.param({"kind": "sum", "column": "age", "clip": [2, 7]},
                 bounds((0, 7 * N)), id="sum-positive"),
    pytest.param({"kind": "sum", "column": "age", "clip": [-5, -1]},
                 bounds((-5 * N, 0)), id="sum-negative"),
    # Mean: the centred sum (centre 53) then the count.
    pytest.param({"kind": "mean", "column": "age", "clip": [17, 90]},
                 bounds((-36 * N, 37 * N), (0, N)), id="mean"),
    # Centre -3 of [-5, -1] makes the centred clip [-2, 2].
    pytest.param({"kind": "mean", "column": "age", "clip": [-5, -1]},
                 bounds((-2 * N, 2 * N), (0, N)), id="mean-negative"),
    pytest.param({"kind": "histogram", "column": "age",
                  "bins": {"start": 0, "width": 10, "count": 4}},
                 bounds(*[(0, N)] * 4), id="histogram-bins"),
    pytest.param({"kind": "histogram", "column": "sex",
                  "categories": ["a", "b", "c"]},
                 bounds(*[(0, N)] * 3), id="histogram-categories"),
    pytest.param({"kind": "vector", "length": 3, "clip": [-1, 1],
                  "scale": 2}, bounds(*[(-100, 100)] * 3), id="vector"),
    pytest.param({"kind": "vector", "length": 4, "one_hot": True},
                 bounds(*[(0, 1)] * 4), id="vector-one-hot"),
]


@pytest.mark.parametrize(("fields", "expected"), BOUND_CASES)
def test_element_bounds(fields: dict[str, Any],
                        expected: list[ElementBound]) -> None:
    assert element_bounds(query(**fields), N) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"kind": "count"}, [1], id="count"),
        pytest.param({"kind": "histogram", "column": "age",
                      "bins": {"start": 0, "width": 10, "count": 4}},
                     [1], id="histogram"),
        pytest.param({"kind": "sum", "column": "age", "clip": [-2.5, 4],
                      "scale": 1}, [40], id="sum-mixed"),
        pytest.param({"kind": "sum", "column": "age", "clip": [-5, -1]},
                     [5], id="sum-negative"),
        pytest.param({"kind": "mean", "column": "age", "clip": [17, 90]},
                     [37, 1], id="mean"),
        pytest.param({"kind": "vector", "length": 3, "clip": [-1, 1],
                      "scale": 2}, [100], id="vector"),
    ],
)
def test_sensitivities(fields: dict[str, Any], expected: list[int]) -> None:
    assert sensitivities(query(**fields)) == expected


# Statements and field fit -------------------------------------------------


def job(queries: list[dict[str, Any]], parties: list[str] = PARTIES,
        **options: Any) -> JobSpec:
    table: dict[str, Any] = {"parties": parties, "epsilon": 1.0,
                             "delta": 1e-6, "query": queries}
    table.update(options)
    return parse_spec(table)


NORMAL_QUERIES: list[dict[str, Any]] = [
    {"name": "rich", "kind": "count", "dataset": "people",
     "filter": where("income", "==", ">50K")},
    {"name": "hours", "kind": "sum", "dataset": "people", "column": "hours",
     "clip": [0, 50], "scale": 1},
    {"name": "age", "kind": "mean", "dataset": "people", "column": "age",
     "clip": [17, 90]},
    {"name": "ages", "kind": "histogram", "dataset": "people",
     "column": "age", "bins": {"start": 10, "width": 25, "count": 3}},
    {"name": "sex", "kind": "histogram", "dataset": "people",
     "column": "sex", "categories": ["Male", "Female"]},
    {"name": "vote", "kind": "vector", "length": 3, "one_hot": True},
]


@pytest.fixture(scope="module")
def spec() -> JobSpec:
    return job(NORMAL_QUERIES)


@pytest.fixture(scope="module")
def plans(spec: JobSpec) -> list[list[NoisePlan | None]]:
    # Planning the binomial noise takes most of a second, so it runs once.
    return noise_plans(spec)


def job_statement(spec: JobSpec, max_records: int,
                  plans: list[list[NoisePlan | None]] | None = None
                  ) -> InputStatement:
    if plans is None:
        plans = noise_plans(spec)
    per_element = element_noise_plans(spec, plans)
    return statement(spec, {"people": max_records}, per_element)


def test_statement_matches_element_bounds(
    spec: JobSpec, plans: list[list[NoisePlan | None]]
) -> None:
    result = job_statement(spec, N, plans)
    expected = [b for q in spec.queries for b in element_bounds(q, N)]
    assert list(result.bounds) == expected
    assert len(result.noise_bounds) == spec.num_elements
    assert all(t > NO_NOISE_BOUND for t in result.noise_bounds)


def test_statement_groups(
    spec: JobSpec, plans: list[list[NoisePlan | None]]
) -> None:
    result = job_statement(spec, N, plans)
    kinds = [(g.kind, g.indices, g.lo, g.hi) for g in result.groups]
    assert kinds == [
        ("bounded_sum", (4, 5, 6), 0, N),
        ("bounded_sum", (7, 8), 0, N),
        ("one_hot", (9, 10, 11), 0, 1),
    ]


def test_statement_without_noise() -> None:
    spec = job(NORMAL_QUERIES, mechanism="none")
    result = job_statement(spec, N)
    assert set(result.noise_bounds) == {NO_NOISE_BOUND}


def test_statement_rejects_undeclared_dataset(
    spec: JobSpec, plans: list[list[NoisePlan | None]]
) -> None:
    per_element = element_noise_plans(spec, plans)
    with pytest.raises(QueryError, match="'people'"):
        statement(spec, {}, per_element)


def test_check_field_fit_accepts_normal_job(
    spec: JobSpec, plans: list[list[NoisePlan | None]]
) -> None:
    statements = [job_statement(spec, 1 << 20, plans)] * 3
    check_field_fit(statements)


def test_check_field_fit_rejects_wide_sum() -> None:
    # Clip [0, 1e9] at scale 9 is 10^18 per party, and two parties exceed
    # (p-1)/2, about 1.15e18.
    spec = job([{"kind": "sum", "dataset": "people", "column": "age",
                 "clip": [0, 1e9], "scale": 9}],
               parties=["alice", "bob"], mechanism="none")
    party_statement = job_statement(spec, 1)
    check_field_fit([party_statement])
    with pytest.raises(QueryError, match="element 0"):
        check_field_fit([party_statement] * 2)


def single_bound(hi: int, noise_bound: int) -> InputStatement:
    return InputStatement((ElementBound(0, hi),), (), (noise_bound,))


def test_check_field_fit_limit_is_half() -> None:
    check_field_fit([single_bound(HALF - 1, 1)])
    with pytest.raises(QueryError):
        check_field_fit([single_bound(HALF - 1, 2)])


def test_check_field_fit_counts_parties() -> None:
    # Each party contributes at most 2^58 - 1 plus noise 1, which is 2^58.
    # Three parties stay below 2^60 - 1 and four do not.
    party_statement = single_bound(HALF >> 2, 1)
    check_field_fit([party_statement] * 3)
    with pytest.raises(QueryError, match="4 parties"):
        check_field_fit([party_statement] * 4)


def test_check_field_fit_uses_magnitude() -> None:
    negative = InputStatement((ElementBound(-(HALF >> 1), 0),), (), (1,))
    with pytest.raises(QueryError):
        check_field_fit([negative] * 3)


# Noise plans and results ---------------------------------------------------


def test_noise_plans_split_budget(
    spec: JobSpec, plans: list[list[NoisePlan | None]]
) -> None:
    epsilons = [p.epsilon for groups in plans for p in groups]
    assert [len(groups) for groups in plans] == [1, 1, 2, 1, 1, 1]
    assert math.fsum(epsilons) <= spec.epsilon
    assert math.fsum(epsilons) == pytest.approx(spec.epsilon)
    assert plans[2][0].epsilon == pytest.approx(spec.epsilon / 12)
    assert plans[2][1].sensitivity == 1


def test_noise_plans_none() -> None:
    plans = noise_plans(job(NORMAL_QUERIES, mechanism="none"))
    assert plans == [[None], [None], [None, None], [None], [None], [None]]


def test_noise_plans_laplace_default_delta_many_bins() -> None:
    table = {"parties": PARTIES, "epsilon": 1.0,
             "mechanism": "discrete_laplace",
             "query": [{"kind": "histogram", "dataset": "people",
                        "column": "age",
                        "bins": {"start": 0, "width": 1, "count": 1000}}]}
    plans = noise_plans(parse_spec(table))
    assert plans[0][0].delta == plans[0][0].truncation_delta()


# Counts, sum at scale 1, mean, bins, categories, one-hot vector.
TOTALS = [100, 1285, -89, 8, 3, 2, 1, 4, 3, 1, 0, 2]


def test_decode_results_without_noise() -> None:
    spec = job(NORMAL_QUERIES, mechanism="none")
    results = decode_results(spec, TOTALS, noise_plans(spec))
    count, total, mean, ages, sex, vote = results
    assert [r["name"] for r in results] == [
        "rich", "hours", "age", "ages", "sex", "vote"]
    assert count["value"] == 100
    assert count["std"] == 0
    assert count["interval95"] == [100, 100]
    assert count["noise"] == [None]
    assert total["value"] == 128.5
    assert total["interval95"] == [128.5, 128.5]
    # 53 + (-89 / 8).
    assert mean["value"] == pytest.approx(41.875)
    assert mean["std"] == 0
    assert mean["noisy_count"] == 8
    assert ages["values"] == [3, 2, 1]
    assert ages["bins"] == [[10, 35], [35, 60], [60, 85]]
    assert ages["intervals95"] == [[3, 3], [2, 2], [1, 1]]
    assert sex["values"] == [4, 3]
    assert sex["bins"] == ["Male", "Female"]
    assert vote["values"] == [1, 0, 2]


@pytest.mark.parametrize("count", [0, -3])
def test_decode_results_mean_without_count(count: int) -> None:
    spec = job([NORMAL_QUERIES[2]], mechanism="none")
    (result,) = decode_results(spec, [-89, count], noise_plans(spec))
    assert result["value"] is None
    assert result["std"] is None
    assert result["interval95"] is None
    assert "count" in result["note"]


def test_decode_results_binomial(
    spec: JobSpec, plans: list[list[NoisePlan | None]]
) -> None:
    count, total, _, ages, sex, vote = decode_results(
        spec, TOTALS, plans)
    count_plan, sum_plan = plans[0][0], plans[1][0]
    half = count_plan.interval95()

    assert count_plan.mechanism == "binomial"
    assert count["std"] == count_plan.total_std()
    assert count["std"] > 0
    assert count["interval95"] == [100 - half, 100 + half]
    assert count["noise"] == [count_plan.describe()]

    # The sum is at scale 1, so its figures are divided by 10.
    assert total["std"] == pytest.approx(sum_plan.total_std() / 10)
    assert total["interval95"] == pytest.approx(
        [128.5 - sum_plan.interval95() / 10,
         128.5 + sum_plan.interval95() / 10])

    bins_half = plans[3][0].interval95()
    assert ages["std"] == plans[3][0].total_std()
    assert ages["intervals95"] == [[v - bins_half, v + bins_half]
                                   for v in [3, 2, 1]]
    assert sex["std"] == plans[4][0].total_std()
    assert vote["std"] == plans[5][0].total_std()


def test_decode_results_binomial_mean(
    spec: JobSpec, plans: list[list[NoisePlan | None]]
) -> None:
    mean = decode_results(spec, TOTALS, plans)[2]
    std_sum, std_count = plans[2][0].total_std(), plans[2][1].total_std()
    centred = -89 / 8
    # Delta method for S / N with S and N independent.
    expected_std = math.sqrt(std_sum**2 / 64 + centred**2 * std_count**2 / 64)

    assert mean["value"] == pytest.approx(41.875)
    assert mean["std"] == pytest.approx(expected_std)
    assert mean["interval95"] == pytest.approx(
        [41.875 - 1.96 * expected_std, 41.875 + 1.96 * expected_std])
    assert len(mean["noise"]) == 2
