"""Tests of job specification parsing and encoding in mpc.spec.

Each rejection case changes one thing in a valid job table and checks
that SpecError names the offending key or value.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest

from mpc.spec import (
    MAX_HISTOGRAM_BINS,
    JobSpec,
    SpecError,
    check_party_id,
    parse_spec,
    spec_from_json,
)

COUNT = {"name": "rich", "kind": "count", "dataset": "adult",
         "filter": {"column": "income", "op": "==", "value": ">50K"}}
SUM = {"name": "gain", "kind": "sum", "dataset": "adult",
       "column": "gain", "clip": [-2.5, 100.25], "scale": 2, "weight": 2}
MEAN = {"name": "age", "kind": "mean", "dataset": "adult",
        "column": "age", "clip": [17, 90]}
BINS = {"name": "hours", "kind": "histogram", "dataset": "adult",
        "column": "hours", "bins": {"start": 0, "width": 10, "count": 10}}
CATEGORIES = {"name": "sex", "kind": "histogram", "dataset": "adult",
              "column": "sex", "categories": ["Male", "Female"]}
ONE_HOT = {"name": "vote", "kind": "vector", "length": 3, "one_hot": True}
VECTOR = {"name": "scores", "kind": "vector", "length": 2, "clip": [-1, 1]}
OLD = {"name": "old", "kind": "count", "dataset": "adult",
       "filter": {"column": "age", "op": ">=", "value": 65}}

BASE: dict[str, Any] = {
    "parties": ["alice", "bob", "carol"],
    "epsilon": 1.0,
    "delta": 1e-6,
    "name": "census",
    "query": [COUNT, SUM, MEAN, BINS, CATEGORIES, ONE_HOT, VECTOR, OLD],
}


def job(**changes: Any) -> dict[str, Any]:
    """Return a copy of the valid job with top-level keys changed."""
    table = copy.deepcopy(BASE)
    table.update(changes)
    return table


def job_without(key: str) -> dict[str, Any]:
    table = copy.deepcopy(BASE)
    del table[key]
    return table


def one_query(query: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """Return the valid job with its queries replaced by one query."""
    return job(query=[{**query, **changes}])


def query_without(query: dict[str, Any], key: str) -> dict[str, Any]:
    table = copy.deepcopy(query)
    del table[key]
    return one_query(table)


# Valid jobs ---------------------------------------------------------------


def test_parse_spec_valid_job() -> None:
    spec = parse_spec(job(), "alice")
    assert spec.parties == ("alice", "bob", "carol")
    assert spec.initiator == "alice"
    assert spec.num_parties == 3
    assert spec.threshold == 2
    assert spec.datasets == ("adult",)
    assert [q.name for q in spec.queries] == [
        "rich", "gain", "age", "hours", "sex", "vote", "scores", "old"]
    assert spec.num_elements == 1 + 1 + 2 + 10 + 2 + 3 + 2 + 1


def test_parse_spec_normalises_numbers() -> None:
    spec = parse_spec(job())
    by_name = {q.name: q for q in spec.queries}
    assert by_name["age"].clip == (17.0, 90.0)
    assert by_name["gain"].scaled_clip() == (-250, 10025)
    assert by_name["old"].filter is not None
    assert by_name["old"].filter.value == 65.0
    assert by_name["vote"].clip == (0.0, 1.0)


def test_spec_json_round_trip() -> None:
    spec = parse_spec(job(), "alice")
    decoded = spec_from_json(spec.to_json())
    assert decoded == spec
    assert decoded.digest() == spec.digest()
    assert decoded.to_json() == spec.to_json()


def test_spec_json_round_trip_bytes() -> None:
    spec = parse_spec(job(mechanism="discrete_laplace", colluding=1))
    decoded = spec_from_json(spec.to_json().encode("utf-8"))
    assert decoded == spec
    assert decoded.digest() == spec.digest()


def test_spec_json_is_canonical() -> None:
    text = parse_spec(job()).to_json()
    assert " " not in text.replace(">50K", "")
    assert json.dumps(json.loads(text), sort_keys=True,
                      separators=(",", ":")) == text


def test_spec_digest_changes_with_budget() -> None:
    assert parse_spec(job()).digest() != parse_spec(job(epsilon=2)).digest()


def test_spec_digest_is_sha256() -> None:
    assert len(parse_spec(job()).digest()) == 32


def test_parse_spec_accepts_queries_key() -> None:
    table = job_without("query")
    table["queries"] = [COUNT]
    assert parse_spec(table).queries[0].name == "rich"


def test_parse_spec_mechanism_none_has_no_budget() -> None:
    table = job(mechanism="none")
    del table["epsilon"], table["delta"]
    spec = parse_spec(table)
    assert spec.epsilon == 0.0
    assert spec.delta == 0.0


def test_parse_spec_laplace_default_delta() -> None:
    # The noise plan records the truncation delta as the delta spent.
    table = job(mechanism="discrete_laplace")
    del table["delta"]
    spec = parse_spec(table)
    assert spec.delta == 0.0


def test_parse_spec_laplace_accepts_zero_delta() -> None:
    spec = parse_spec(job(mechanism="discrete_laplace", delta=0))
    assert spec.delta == 0.0


def test_parse_spec_binomial_rejects_zero_delta() -> None:
    with pytest.raises(SpecError, match="delta"):
        parse_spec(job(mechanism="binomial", delta=0))


@pytest.mark.parametrize("colluding", [0, 1, 2])
def test_parse_spec_colluding_sets_threshold(colluding: int) -> None:
    assert parse_spec(job(colluding=colluding)).threshold == colluding


def test_parse_spec_ignores_initiator_key() -> None:
    assert parse_spec(job(initiator="bob")).initiator == ""


@pytest.mark.parametrize(
    "party_id", ["a", "alice", "party-2", "x9", "a" * 32]
)
def test_check_party_id_accepts(party_id: str) -> None:
    assert check_party_id(party_id) == party_id


# Rejected budgets ---------------------------------------------------------

BAD_BUDGET_VALUES = [
    pytest.param(0, id="zero"),
    pytest.param(0.0, id="zero-float"),
    pytest.param(-1.0, id="negative"),
    pytest.param(math.nan, id="nan"),
    pytest.param(math.inf, id="inf"),
    pytest.param(-math.inf, id="minus-inf"),
    pytest.param("1.0", id="string"),
    pytest.param(True, id="bool"),
    pytest.param(None, id="null"),
    pytest.param([1.0], id="list"),
]


@pytest.mark.parametrize("value", BAD_BUDGET_VALUES)
@pytest.mark.parametrize("key", ["epsilon", "delta"])
def test_parse_spec_rejects_budget(key: str, value: object) -> None:
    with pytest.raises(SpecError, match=key):
        parse_spec(job(**{key: value}))


@pytest.mark.parametrize("key", ["epsilon", "delta"])
def test_parse_spec_rejects_missing_budget(key: str) -> None:
    with pytest.raises(SpecError, match=key):
        parse_spec(job_without(key))


@pytest.mark.parametrize("delta", [1, 1.0, 1.5, 100])
def test_parse_spec_rejects_delta_at_least_one(delta: float) -> None:
    with pytest.raises(SpecError, match="delta"):
        parse_spec(job(delta=delta))


@pytest.mark.parametrize("mechanism", ["discrete_laplace", "binomial"])
def test_parse_spec_rejects_epsilon_any_mechanism(mechanism: str) -> None:
    with pytest.raises(SpecError, match="epsilon"):
        parse_spec(job(mechanism=mechanism, epsilon=-1))


# Rejected parties ---------------------------------------------------------

BAD_PARTY_IDS = [
    pytest.param("\u0430lice", id="cyrillic-a"),
    pytest.param("b\u043eb", id="cyrillic-o"),
    pytest.param("\uff41lice", id="full-width-a"),
    pytest.param("\uff41\uff4c\uff49\uff43\uff45", id="all-full-width"),
    pytest.param("al\u0131ce", id="dotless-i"),
    pytest.param("Alice", id="upper-case"),
    pytest.param("ALICE", id="all-upper-case"),
    pytest.param("", id="empty"),
    pytest.param("a" * 33, id="too-long"),
    pytest.param("1alice", id="leading-digit"),
    pytest.param("-alice", id="leading-hyphen"),
    pytest.param("al ice", id="space"),
    pytest.param("alice\n", id="trailing-newline"),
    pytest.param(" alice", id="leading-space"),
    pytest.param("al.ice", id="dot"),
    pytest.param("alice\u200b", id="zero-width-space"),
    pytest.param(7, id="integer"),
    pytest.param(None, id="null"),
]


@pytest.mark.parametrize("party_id", BAD_PARTY_IDS)
def test_check_party_id_rejects(party_id: object) -> None:
    with pytest.raises(SpecError, match="party id"):
        check_party_id(party_id)


@pytest.mark.parametrize("party_id", BAD_PARTY_IDS)
def test_parse_spec_rejects_party_id(party_id: object) -> None:
    with pytest.raises(SpecError, match="party id"):
        parse_spec(job(parties=["alice", party_id]))


@pytest.mark.parametrize(
    "parties",
    [
        pytest.param([], id="none"),
        pytest.param(["alice"], id="one"),
    ],
)
def test_parse_spec_rejects_too_few_parties(parties: list[str]) -> None:
    with pytest.raises(SpecError, match="at least 2 parties"):
        parse_spec(job(parties=parties))


def test_parse_spec_rejects_party_twice() -> None:
    with pytest.raises(SpecError, match="listed twice.*bob"):
        parse_spec(job(parties=["alice", "bob", "carol", "bob"]))


@pytest.mark.parametrize("parties", ["alice,bob", None, {"alice": 1}])
def test_parse_spec_rejects_parties_not_list(parties: object) -> None:
    with pytest.raises(SpecError, match="parties"):
        parse_spec(job(parties=parties))


def test_parse_spec_rejects_foreign_initiator() -> None:
    with pytest.raises(SpecError, match="initiator 'dave'"):
        parse_spec(job(), "dave")


# Rejected job keys --------------------------------------------------------

BAD_JOBS = [
    pytest.param(job(colour="blue"), "colour", id="unknown-key"),
    pytest.param(job(mechanism="gaussian"), "mechanism", id="mechanism"),
    pytest.param(job(mechanism=None), "mechanism", id="mechanism-null"),
    pytest.param(job(proofs="snark"), "proofs", id="proofs"),
    pytest.param(job(colluding=3), "colluding", id="colluding-m"),
    pytest.param(job(colluding=-1), "colluding", id="colluding-negative"),
    pytest.param(job(colluding=True), "colluding", id="colluding-bool"),
    pytest.param(job(colluding=1.0), "colluding", id="colluding-float"),
    pytest.param(job(phase_timeout=0), "phase_timeout", id="timeout-zero"),
    pytest.param(job(phase_timeout=3601), "phase_timeout",
                 id="timeout-long"),
    pytest.param(job(name="my job"), "name", id="job-name-space"),
    pytest.param(job(name="job\n"), "name", id="job-name-newline"),
    pytest.param(job(query=[]), "query", id="no-queries"),
    pytest.param(job_without("query"), "query", id="missing-queries"),
    pytest.param(job(query=[COUNT, {**SUM, "name": "rich"}]),
                 "unique.*rich", id="duplicate-query-name"),
]


@pytest.mark.parametrize(("table", "message"), BAD_JOBS)
def test_parse_spec_rejects_job(table: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec(table)


@pytest.mark.parametrize("table", [None, [], "job", 3])
def test_parse_spec_rejects_non_table(table: object) -> None:
    with pytest.raises(SpecError, match="table"):
        parse_spec(table)  # type: ignore[arg-type]


# Rejected queries ---------------------------------------------------------

BAD_QUERIES = [
    pytest.param(one_query(SUM, clip=[5, 1]), r"query\[0\]\.clip",
                 id="clip-reversed"),
    pytest.param(one_query(SUM, clip=[3, 3]), r"query\[0\]\.clip",
                 id="clip-equal"),
    pytest.param(one_query(SUM, clip=[0.1, 0.2], scale=0),
                 r"query\[0\]\.clip.*rounds", id="clip-rounds-scale-0"),
    pytest.param(one_query(SUM, clip=[0.001, 0.004], scale=2),
                 r"query\[0\]\.clip.*rounds", id="clip-rounds-scale-2"),
    pytest.param(one_query(MEAN, clip=[1]), r"query\[0\]\.clip",
                 id="clip-one-bound"),
    pytest.param(one_query(MEAN, clip=[0, math.nan]),
                 r"query\[0\]\.clip\[1\]", id="clip-nan"),
    pytest.param(one_query(MEAN, clip=["0", 1]), r"query\[0\]\.clip\[0\]",
                 id="clip-string"),
    pytest.param(query_without(MEAN, "clip"), r"query\[0\]\.clip",
                 id="clip-missing"),
    pytest.param(one_query(VECTOR, clip=[1, -1]), r"query\[0\]\.clip",
                 id="vector-clip-reversed"),
    pytest.param(one_query(SUM, scale=10), r"query\[0\]\.scale",
                 id="scale-too-large"),
    pytest.param(one_query(SUM, scale=-1), r"query\[0\]\.scale",
                 id="scale-negative"),
    pytest.param(one_query(SUM, scale=1.5), r"query\[0\]\.scale",
                 id="scale-float"),
    pytest.param(query_without(BINS, "bins"), r"query\[0\].*'bins'",
                 id="histogram-no-bins"),
    pytest.param(one_query(BINS, categories=["a"]), r"query\[0\].*'bins'",
                 id="histogram-bins-and-categories"),
    pytest.param(one_query(BINS, bins={"start": 0, "width": 0, "count": 3}),
                 r"query\[0\]\.bins\.width", id="histogram-zero-width"),
    pytest.param(one_query(BINS, bins={"start": 0, "width": -1, "count": 3}),
                 r"query\[0\]\.bins\.width", id="histogram-negative-width"),
    pytest.param(one_query(BINS, bins={"start": 0, "width": 1, "count": 0}),
                 r"query\[0\]\.bins\.count", id="histogram-zero-count"),
    pytest.param(
        one_query(BINS, bins={"start": 0, "width": 1,
                              "count": MAX_HISTOGRAM_BINS + 1}),
        r"query\[0\]\.bins\.count", id="histogram-too-many-bins"),
    pytest.param(one_query(BINS, bins=[0, 1, 3]), r"query\[0\]\.bins",
                 id="histogram-bins-list"),
    pytest.param(one_query(CATEGORIES, categories=[]),
                 r"query\[0\]\.categories", id="categories-empty"),
    pytest.param(one_query(CATEGORIES, categories=["a", "a"]),
                 r"query\[0\]\.categories", id="categories-duplicate"),
    pytest.param(one_query(CATEGORIES, categories=["a", 3]),
                 r"query\[0\]\.categories", id="categories-number"),
    pytest.param(one_query(COUNT, colour="blue"), r"query\[0\].*colour",
                 id="query-unknown-key"),
    pytest.param(one_query(COUNT, kind="median"), r"query\[0\]\.kind",
                 id="kind-unknown"),
    pytest.param(query_without(COUNT, "kind"), r"query\[0\]\.kind",
                 id="kind-missing"),
    pytest.param(one_query(COUNT, name="a b"), r"query\[0\]\.name",
                 id="query-name-space"),
    pytest.param(one_query(COUNT, name="rich\n"), r"query\[0\]\.name",
                 id="query-name-newline"),
    pytest.param(one_query(COUNT, name=""), r"query\[0\]\.name",
                 id="query-name-empty"),
    pytest.param(one_query(COUNT, weight=0), r"query\[0\]\.weight",
                 id="weight-zero"),
    pytest.param(one_query(COUNT, weight=math.inf), r"query\[0\]\.weight",
                 id="weight-inf"),
    pytest.param(query_without(COUNT, "dataset"), r"query\[0\]\.dataset",
                 id="dataset-missing"),
    pytest.param(one_query(COUNT, dataset="  "), r"query\[0\]\.dataset",
                 id="dataset-blank"),
    pytest.param(query_without(SUM, "column"), r"query\[0\]\.column",
                 id="column-missing"),
    pytest.param(one_query(COUNT, filter={"column": "a", "op": "~=",
                                          "value": 1}),
                 r"query\[0\]\.filter\.op", id="filter-op"),
    pytest.param(one_query(COUNT, filter={"column": "a", "value": True}),
                 r"query\[0\]\.filter\.value", id="filter-bool"),
    pytest.param(one_query(COUNT, filter={"column": "a", "value": math.nan}),
                 r"query\[0\]\.filter\.value", id="filter-nan"),
    pytest.param(one_query(COUNT, filter={"column": "a", "value": 1,
                                          "colour": 2}),
                 r"query\[0\]\.filter.*colour", id="filter-unknown-key"),
    pytest.param(one_query(COUNT, filter={"value": 1}),
                 r"query\[0\]\.filter\.column", id="filter-no-column"),
    pytest.param(one_query(COUNT, filter="age > 3"), r"query\[0\]\.filter",
                 id="filter-string"),
    pytest.param(one_query(VECTOR, length=0), r"query\[0\]\.length",
                 id="vector-length-zero"),
    pytest.param(query_without(VECTOR, "length"), r"query\[0\]\.length",
                 id="vector-length-missing"),
    pytest.param(job(query=[COUNT, "count"]), r"query\[1\]",
                 id="query-not-table"),
]


@pytest.mark.parametrize(("table", "message"), BAD_QUERIES)
def test_parse_spec_rejects_query(table: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec(table)


def test_parse_spec_clip_fits_at_higher_scale() -> None:
    spec = parse_spec(one_query(SUM, clip=[0.1, 0.2], scale=1))
    assert spec.queries[0].scaled_clip() == (1, 2)


# Decoding JSON from a peer ------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("not json", id="text"),
        pytest.param(b"\xff\xfe", id="invalid-utf8"),
        pytest.param("{", id="truncated"),
        pytest.param("[]", id="array"),
        pytest.param("null", id="null"),
        pytest.param("3", id="number"),
        pytest.param("{}", id="empty-object"),
        pytest.param('{"parties": ["alice", "bob"]}', id="no-queries"),
    ],
)
def test_spec_from_json_rejects_garbage(text: str | bytes) -> None:
    with pytest.raises(SpecError):
        spec_from_json(text)


def valid_json() -> dict[str, Any]:
    return json.loads(parse_spec(job(), "alice").to_json())


def edited_json(path: tuple[Any, ...], value: Any) -> str:
    """Return the valid job's JSON with the item at `path` replaced."""
    data = valid_json()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(data)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        pytest.param(("epsilon",), -1, "epsilon", id="epsilon-negative"),
        pytest.param(("epsilon",), 0, "epsilon", id="epsilon-zero"),
        pytest.param(("delta",), 1.0, "delta", id="delta-one"),
        pytest.param(("delta",), "x", "delta", id="delta-string"),
        pytest.param(("parties",), ["alice"], "at least 2",
                     id="one-party"),
        pytest.param(("parties",), ["alice", "alice"], "twice",
                     id="party-twice"),
        pytest.param(("parties",), ["alice", "\u0430lice"], "party id",
                     id="cyrillic-party"),
        pytest.param(("initiator",), "dave", "initiator",
                     id="foreign-initiator"),
        pytest.param(("mechanism",), "gaussian", "mechanism",
                     id="mechanism"),
        pytest.param(("colluding",), 5, "colluding", id="colluding"),
        pytest.param(("queries", 2, "clip"), [90, 17], "clip",
                     id="clip-reversed"),
        pytest.param(("queries", 3, "bins_width"), 0.0, "width",
                     id="zero-width"),
        pytest.param(("queries", 4, "categories"), ["a", "a"],
                     "categories", id="duplicate-categories"),
        pytest.param(("queries", 1, "name"), "rich", "unique",
                     id="duplicate-names"),
        pytest.param(("queries", 0, "kind"), "median", "kind",
                     id="unknown-kind"),
        pytest.param(("queries", 0, "colour"), 1, "query", id="query-key"),
        pytest.param(("colour",), 1, "colour", id="job-key"),
        pytest.param(("queries", 0, "filter"), "x", "query",
                     id="filter-string"),
        pytest.param(("queries", 0, "filter"), {"column": "a"}, "query",
                     id="filter-incomplete"),
        pytest.param(("queries", 2, "clip"), 5, "query", id="clip-number"),
        pytest.param(("queries", 4, "categories"), 5, "query",
                     id="categories-number"),
        pytest.param(("queries", 0), "count", "query", id="query-string"),
        pytest.param(("queries",), 5, "queries", id="queries-number"),
        pytest.param(("parties",), 5, "malformed", id="parties-number"),
    ],
)
def test_spec_from_json_rejects_rule(path: tuple[Any, ...], value: Any,
                                     message: str) -> None:
    with pytest.raises(SpecError, match=message):
        spec_from_json(edited_json(path, value))


def test_spec_from_json_returns_jobspec() -> None:
    assert isinstance(spec_from_json(json.dumps(valid_json())), JobSpec)


@pytest.mark.parametrize(
    "query, key, expected",
    [
        (VECTOR, "length",
         "query[0].length is missing: set it to an integer in [1, "),
        ({**BINS, "bins": {"start": 0, "width": 10}}, None,
         "query[0].bins.count is missing: set it to an integer in [1, "),
        ({**BINS, "bins": {"start": 0, "count": 10}}, None,
         "query[0].bins.width is missing: set it to a number"),
    ],
    ids=["vector length", "bins count", "bins width"],
)
def test_missing_key_says_missing(query, key, expected):
    table = query_without(query, key) if key else one_query(query)
    with pytest.raises(SpecError) as info:
        parse_spec(table)
    assert str(info.value).startswith(expected)
