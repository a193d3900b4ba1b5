"""Query encoding: local aggregates, statement bounds, noise and results.

Each query becomes a few elements of a party's input vector:

- count: [number of matching records]
- sum: [sum of values clipped to [lo, hi], in fixed point]
- mean: [sum of (clipped value - c), count], with c the centre of the
  clip interval, so the sum's sensitivity is half the interval's width
- histogram: [count per bin or category]
- vector: the raw vector a party supplies (experiments, surveys)

A party proves that its local aggregate is one that its declared data
could produce: with n_max its public maximum record count, a count lies
in [0, n_max], a sum in [n_max*min(lo, 0), n_max*max(hi, 0)], and the bins
of a histogram in [0, n_max] with their total at most n_max. Noise is
calibrated at record level whatever those party-level bounds are.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mpc import dp, mechanisms, predicates
from mpc.field import HALF
from mpc.spec import Filter, JobSpec, Query
from mpc.validity import ElementBound, GroupConstraint, InputStatement


class DataSource(Protocol):
    """A party's records, as the library sees them (no disk access)."""

    def row_count(self, dataset: str) -> int:
        """Return the number of records in a dataset."""

    def numeric(self, dataset: str, column: str) -> np.ndarray:
        """Return a column as float64, NaN where a value is missing."""

    def text(self, dataset: str, column: str) -> np.ndarray:
        """Return a column as an object array of stripped strings."""


class QueryError(ValueError):
    """A query that cannot run on this party's data."""


@dataclass
class TableSource:
    """A DataSource over in-memory columns: {dataset: {column: array}}."""

    tables: dict[str, dict[str, np.ndarray]]

    def _table(self, dataset: str) -> dict[str, np.ndarray]:
        if dataset not in self.tables:
            raise QueryError(
                f"dataset {dataset!r} not found; available: "
                f"{sorted(self.tables)}"
            )
        return self.tables[dataset]

    def row_count(self, dataset: str) -> int:
        table = self._table(dataset)
        return len(next(iter(table.values()))) if table else 0

    def _column(self, dataset: str, column: str) -> np.ndarray:
        table = self._table(dataset)
        if column not in table:
            raise QueryError(
                f"column {column!r} not found in dataset {dataset!r}; "
                f"available: {sorted(table)}"
            )
        return np.asarray(table[column])

    def numeric(self, dataset: str, column: str) -> np.ndarray:
        values = self._column(dataset, column)
        out = np.full(values.shape, np.nan)
        for i, v in enumerate(values):
            try:
                out[i] = float(v)
            except (TypeError, ValueError):
                pass
        out[~np.isfinite(out)] = np.nan
        return out

    def text(self, dataset: str, column: str) -> np.ndarray:
        values = self._column(dataset, column)
        return np.array([str(v).strip() for v in values], dtype=object)


def default_max_records(row_count: int) -> int:
    """Round a row count up to a power of two (at least 1).

    Declaring this instead of the exact count reveals only the order of
    magnitude of a party's dataset.
    """
    return 1 << max(0, (max(row_count, 1) - 1).bit_length())


def filter_mask(source: DataSource, dataset: str, flt: Filter | None
                ) -> np.ndarray:
    """Return the boolean mask of records that pass a filter."""
    rows = source.row_count(dataset)
    if flt is None:
        return np.ones(rows, dtype=bool)
    if isinstance(flt.value, str):
        column = source.text(dataset, flt.column)
        value: object = flt.value.strip()
    else:
        column = source.numeric(dataset, flt.column)
        value = float(flt.value)
    with np.errstate(invalid="ignore"):
        mask = {
            "==": column == value, "!=": column != value,
            "<": column < value, "<=": column <= value,
            ">": column > value, ">=": column >= value,
        }[flt.op]
    mask = np.asarray(mask, dtype=bool)
    if not isinstance(flt.value, str):
        mask &= ~np.isnan(column)
    return mask


def _clipped_fixed(values: np.ndarray, query: Query) -> np.ndarray:
    low, high = query.clip
    clipped = np.clip(values, low, high)
    return np.rint(clipped * 10.0**query.scale).astype(np.int64)


def mean_centre(query: Query) -> int:
    """Return the integer centre c of a mean query's scaled clip bounds."""
    low, high = query.scaled_clip()
    return (low + high) // 2


def local_aggregate(query: Query, source: DataSource) -> tuple[list[int],
                                                               int]:
    """Compute this party's contribution to one query.

    Returns the elements and the number of records dropped because the
    queried value was missing (NaN, inf, empty or not a number).
    """
    mask = filter_mask(source, query.dataset, query.filter)
    if query.kind == "count":
        return [int(mask.sum())], 0
    if query.kind == "histogram" and query.categories:
        column = source.text(query.dataset, query.column)[mask]
        return [int(np.sum(column == c)) for c in query.categories], 0

    values = source.numeric(query.dataset, query.column)[mask]
    present = ~np.isnan(values)
    dropped = int((~present).sum())
    values = values[present]
    if query.kind == "histogram":
        index = np.floor((values - query.bins_start) / query.bins_width)
        inside = (index >= 0) & (index < query.bins_count)
        counts = np.bincount(index[inside].astype(np.int64),
                             minlength=query.bins_count)
        return [int(c) for c in counts], dropped
    fixed = _clipped_fixed(values, query)
    if query.kind == "sum":
        return [int(fixed.sum())], dropped
    centred = fixed - mean_centre(query)
    return [int(centred.sum()), int(values.size)], dropped


def vector_input(query: Query, source: DataSource) -> np.ndarray:
    """Read a vector query's elements from a party's dataset.

    The dataset must have exactly `query.length` rows, one per element,
    and a value in every row of the column. Values are clipped to the
    query's bounds and scaled to fixed point. The result is an int64
    array, computed without a Python loop over the elements. A source
    with an `integers(dataset, column)` method (parties.source) serves
    integer columns without a float64 copy.
    """
    rows = source.row_count(query.dataset)
    if rows != query.length:
        raise QueryError(
            f"dataset {query.dataset!r} has {rows} rows, but vector query "
            f"{query.name!r} needs exactly {query.length}, one per element"
        )
    assert query.clip is not None
    low, high = query.clip
    integers = getattr(source, "integers", None)
    column = integers(query.dataset, query.column) if integers else None
    if column is not None and low == int(low) and high == int(high):
        # An integer column with integral bounds: exact, no float copy.
        fixed = np.clip(column, int(low), int(high))
        if query.scale:
            fixed *= 10**query.scale
        return fixed.astype(np.int64, copy=False)
    values = np.asarray(source.numeric(query.dataset, query.column),
                        dtype=np.float64)
    missing = int(np.count_nonzero(np.isnan(values)))
    if missing:
        raise QueryError(
            f"column {query.column!r} of dataset {query.dataset!r} has "
            f"{missing} missing or non-numeric values; vector query "
            f"{query.name!r} needs a value in every row"
        )
    fixed = np.clip(values, low, high)
    del values
    if query.scale:
        fixed *= 10.0**query.scale
    np.rint(fixed, out=fixed)
    return fixed.astype(np.int64)


def element_bounds(query: Query, max_records: int) -> list[ElementBound]:
    """Return the declared range of each element of one query."""
    n = max_records
    if query.kind == "count":
        return [ElementBound(0, n)]
    if query.kind == "histogram":
        return [ElementBound(0, n)] * query.num_elements
    if query.kind == "vector":
        low, high = query.scaled_clip()
        return [ElementBound(low, high)] * query.length
    low, high = query.scaled_clip()
    if query.kind == "mean":
        low, high = low - mean_centre(query), high - mean_centre(query)
    sum_bound = ElementBound(n * min(low, 0), n * max(high, 0))
    if query.kind == "sum":
        return [sum_bound]
    return [sum_bound, ElementBound(0, n)]


def sensitivities(query: Query) -> list[int]:
    """Return the record-level sensitivity of each element group.

    A mean has two groups (sum, count); every other query has one.
    """
    if query.kind in ("count", "histogram"):
        return [1]
    low, high = query.scaled_clip()
    if query.kind == "mean":
        low, high = low - mean_centre(query), high - mean_centre(query)
    return [max(abs(low), abs(high)), 1][: 2 if query.kind == "mean" else 1]


@functools.lru_cache(maxsize=256)
def _cached_plan(mechanism: str, sensitivity: int, epsilon: float,
                 delta: float, num_parties: int, colluding: int,
                 elements: int) -> dp.NoisePlan:
    # Planning a large binomial mechanism takes up to a second and every
    # party plans each job more than once, so plans are reused.
    # A mechanism registered in mpc.mechanisms plans its own noise.
    return mechanisms.plan_noise(mechanism, sensitivity, epsilon, delta,
                                 num_parties, colluding, elements=elements)


def noise_plans(spec: JobSpec) -> list[list[dp.NoisePlan | None]]:
    """Plan the noise of each query's element groups.

    The job's epsilon and delta are split over the queries in proportion
    to their weights, and a mean's share in halves between its sum and
    its count (sequential composition).
    """
    weights = [q.weight for q in spec.queries]
    if spec.mechanism == "none":
        return [[None] * len(sensitivities(q)) for q in spec.queries]
    shares = dp.split_budget(spec.epsilon, spec.delta, weights)
    plans = []
    for query, (epsilon, delta) in zip(spec.queries, shares):
        groups = sensitivities(query)
        sizes = [1, 1] if query.kind == "mean" else [query.num_elements]
        parts = len(groups)
        try:
            plans.append([
                _cached_plan(
                    spec.mechanism, sens, epsilon / parts, delta / parts,
                    spec.num_parties, spec.threshold, elements=size,
                )
                for sens, size in zip(groups, sizes)
            ])
        except ValueError as exc:
            raise QueryError(f"query {query.name!r}: {exc}") from None
    return plans


def element_noise_plans(spec: JobSpec,
                        plans: list[list[dp.NoisePlan | None]]
                        ) -> list[dp.NoisePlan | None]:
    """Return the noise plan of every element of the input vector."""
    out: list[dp.NoisePlan | None] = []
    for query, groups in zip(spec.queries, plans):
        if query.kind == "mean":
            out.extend(groups)
        else:
            out.extend(groups * query.num_elements)
    return out


NO_NOISE_BOUND = 1
"""Noise bound proven when the job adds no noise (the noise is zero)."""


def statement(spec: JobSpec, max_records: dict[str, int],
              plans: list[dp.NoisePlan | None]) -> InputStatement:
    """Build the statement a party proves, from its declaration."""
    bounds: list[ElementBound] = []
    groups: list[GroupConstraint] = []
    for query in spec.queries:
        n = max_records.get(query.dataset, 0) if query.dataset else 0
        if query.kind != "vector" and n < 1:
            raise QueryError(
                f"no record bound declared for dataset {query.dataset!r}"
            )
        start = len(bounds)
        if query.kind == "vector" and query.predicate:
            built = predicates.build_predicate(
                query.predicate, query.length, query.predicate_args)
            bounds.extend(built.bounds)
            groups.extend(built.at_offset(start))
            continue
        bounds.extend(element_bounds(query, n))
        indices = tuple(range(start, len(bounds)))
        if query.kind == "histogram":
            groups.append(GroupConstraint("bounded_sum", indices, 0, n))
        elif query.kind == "vector" and query.one_hot:
            groups.append(GroupConstraint("one_hot", indices, 0, 1))
    noise_bounds = tuple(
        NO_NOISE_BOUND if plan is None else plan.tail_bound
        for plan in plans
    )
    return InputStatement(tuple(bounds), tuple(groups), noise_bounds)


def check_field_fit(statements: list[InputStatement]) -> None:
    """Reject a job whose worst-case aggregate does not fit in the field.

    For every element, the sum over parties of the widest input magnitude
    plus the noise bound must lie within (p-1)/2, so the revealed value
    decodes without wrapping.
    """
    length = len(statements[0].bounds)
    for k in range(length):
        worst = sum(
            max(abs(s.bounds[k].lo), abs(s.bounds[k].hi)) + s.noise_bounds[k]
            for s in statements
        )
        if worst > HALF:
            raise QueryError(
                f"element {k}: the worst-case aggregate {worst} over "
                f"{len(statements)} parties does not fit in the field "
                f"(limit {HALF}); narrow the clip bounds or the scale"
            )


def check_field_fit_queries(spec: JobSpec,
                            max_records: dict[str, dict[str, int]],
                            plans: list[list[dp.NoisePlan | None]]) -> None:
    """Check what check_field_fit checks, one query at a time.

    `max_records` maps each party to its declared record bounds. Every
    element of a vector query has the same bounds and noise, so it is
    checked once: the cost is O(queries x parties), not O(elements), which
    matters for a job with proofs off over a vector of 10^7 elements.
    """
    parties = list(max_records)
    offset = 0
    for original, groups in zip(spec.queries, plans):
        query = original
        if query.kind == "vector":
            query = dataclasses.replace(query, length=1)
        per_element = groups if query.kind == "mean" else (
            groups * query.num_elements)
        noise_bounds = [NO_NOISE_BOUND if plan is None else plan.tail_bound
                        for plan in per_element]
        bounds = {
            p: element_bounds(
                query, max_records[p].get(query.dataset, 0)
                if query.dataset else 0)
            for p in parties
        }
        for k, noise_bound in enumerate(noise_bounds):
            worst = sum(max(abs(bounds[p][k].lo), abs(bounds[p][k].hi))
                        for p in parties) + len(parties) * noise_bound
            if worst > HALF:
                raise QueryError(
                    f"element {offset + k}: the worst-case aggregate "
                    f"{worst} over {len(parties)} parties does not fit in "
                    f"the field (limit {HALF}); narrow the clip bounds or "
                    "the scale"
                )
        offset += original.num_elements


INLINE_VECTOR_LIMIT = 1024
"""Longest vector result given as lists; longer ones come as arrays."""


def decode_results(spec: JobSpec, totals: list[int] | np.ndarray,
                   plans: list[list[dp.NoisePlan | None]]) -> list[dict]:
    """Turn the revealed integer aggregates into per-query results.

    Each result carries the value, the standard deviation of the total
    noise, a 95% interval and the noise description. `totals` is a list
    of ints or an int64 array. A vector query of more than
    INLINE_VECTOR_LIMIT elements gives its values as a numpy array with a
    summary instead of lists (see `_decode_long_vector`), so a 10^7
    element result builds no Python list.
    """
    results = []
    offset = 0
    for query, groups in zip(spec.queries, plans):
        elements = totals[offset:offset + query.num_elements]
        offset += query.num_elements
        if query.kind == "vector" and (
                query.num_elements > INLINE_VECTOR_LIMIT):
            results.append(_decode_long_vector(
                query, np.asarray(elements, dtype=np.int64), groups))
            continue
        if isinstance(elements, np.ndarray):
            elements = elements.tolist()
        results.append(_decode_query(query, elements, groups))
    return results


def _decode_long_vector(query: Query, elements: np.ndarray,
                        groups: list[dp.NoisePlan | None]) -> dict:
    """Decode a long vector result: an array and a summary, no lists.

    `values` is the int64 array of noisy sums at scale 0, or float64
    values in the column's units at a larger scale. Every element has
    the same noise, so one half-width gives every element's 95%
    interval. A daemon stores `values` in a .npy file (see
    `parties.results`).
    """
    factor = 10.0**query.scale
    std, half = _noise_figures(groups[0])
    values = elements if query.scale == 0 else elements / factor
    low = int(elements.min()) if elements.size else 0
    high = int(elements.max()) if elements.size else 0
    widest = max(-low, high)
    if widest * elements.size < 1 << 63:
        total: float = int(elements.sum(dtype=np.int64)) / factor
    else:
        total = float(elements.sum(dtype=np.float64)) / factor
    return {
        "name": query.name, "kind": query.kind,
        "noise": [_describe(g) for g in groups],
        "length": int(elements.size),
        "values": values,
        "std": std / factor,
        "interval95_halfwidth": half / factor,
        "summary": {
            "sum": total,
            "mean": total / elements.size if elements.size else None,
            "min": float(low) / factor if elements.size else None,
            "max": float(high) / factor if elements.size else None,
        },
    }


@functools.lru_cache(maxsize=256)
def _described(plan: dp.NoisePlan) -> dict:
    # The discrete Laplace interval takes about a second for a wide clip
    # (a numerical convolution), and a result needs it twice per plan.
    return plan.describe()


def _describe(plan: dp.NoisePlan | None) -> dict | None:
    """Return a plan's description, computed once per plan."""
    return None if plan is None else dict(_described(plan))


def _noise_figures(plan: dp.NoisePlan | None) -> tuple[float, float]:
    if plan is None:
        return 0.0, 0.0
    return plan.total_std(), float(_described(plan)["interval95"])


def _decode_query(query: Query, elements: list[int],
                  groups: list[dp.NoisePlan | None]) -> dict:
    factor = 10.0**query.scale
    result: dict = {"name": query.name, "kind": query.kind,
                    "noise": [_describe(g) for g in groups]}
    if query.kind in ("count", "sum"):
        std, half = _noise_figures(groups[0])
        value = elements[0] / factor
        result.update(value=value, std=std / factor,
                      interval95=[value - half / factor,
                                  value + half / factor])
        return result
    if query.kind in ("histogram", "vector"):
        std, half = _noise_figures(groups[0])
        values = [e / factor for e in elements]
        result.update(
            values=values, std=std / factor,
            intervals95=[[v - half / factor, v + half / factor]
                         for v in values],
        )
        if query.kind == "histogram":
            result["bins"] = list(query.categories) or [
                [query.bins_start + i * query.bins_width,
                 query.bins_start + (i + 1) * query.bins_width]
                for i in range(query.bins_count)
            ]
        return result
    return _decode_mean(query, elements, groups, result)


def _decode_mean(query: Query, elements: list[int],
                 groups: list[dp.NoisePlan | None], result: dict) -> dict:
    factor = 10.0**query.scale
    centred_sum, count = elements[0] / factor, elements[1]
    std_sum = _noise_figures(groups[0])[0] / factor
    std_count = _noise_figures(groups[1])[0]
    result.update(noisy_sum=centred_sum, noisy_count=count)
    if count <= 0:
        result.update(value=None, std=None, interval95=None,
                      note="noisy count is not positive; no mean")
        return result
    mean_centred = centred_sum / count
    value = mean_centre(query) / factor + mean_centred
    # Delta method: var(S/N) ~ var(S)/N^2 + S^2 var(N)/N^4.
    std = math.sqrt(std_sum**2 / count**2
                    + mean_centred**2 * std_count**2 / count**2)
    result.update(value=value, std=std,
                  interval95=[value - 1.96 * std, value + 1.96 * std],
                  interval_method="normal approximation (delta method)")
    return result
