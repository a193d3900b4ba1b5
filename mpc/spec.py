"""Job specifications: parsing, validation and the canonical encoding.

A job names its parties, its privacy budget and one or more queries. The
canonical JSON encoding (sorted keys, no spaces) is what the initiator
sends at propose, and its SHA-256 digest is bound into every proof of the
job. Validation happens before any network traffic, so a bad job file
fails with a message that names the key and the value.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

from mpc.mechanisms import is_registered
from mpc.predicates import build_predicate

QUERY_KINDS = ("count", "sum", "mean", "histogram", "vector")
MECHANISMS = ("binomial", "discrete_laplace", "none")
PROOF_MODES = ("range", "none")
FILTER_OPS = ("==", "!=", "<", "<=", ">", ">=")
MAX_SCALE = 9
MAX_HISTOGRAM_BINS = 4096
MAX_VECTOR_LENGTH = 10_000_000
DEFAULT_PHASE_TIMEOUT = 30.0
PARTY_ID_PATTERN = re.compile(r"[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?")
"""A party id: one lower-case DNS label of at most 32 characters, since it
is also the name in the party's certificate and the TLS host name."""
# \Z rather than $, because $ also matches before a trailing newline.
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}\Z")


class SpecError(ValueError):
    """A job specification that is not valid."""


MAX_SHOWN_CHARS = 80
MAX_SPEC_BYTES = 1 << 20
"""Largest canonical job spec a party accepts from a peer."""
MAX_EPSILON = 100.0
"""Largest epsilon of a job: far beyond any meaningful privacy, and small
enough that e^epsilon stays finite in the accounting."""


def _show(value: object) -> str:
    """Return repr(value), cut to MAX_SHOWN_CHARS, for error messages.

    Messages reach peers and logs, so a huge value must not be copied
    into them whole.
    """
    text = repr(value)
    if len(text) <= MAX_SHOWN_CHARS:
        return text
    return f"{text[:MAX_SHOWN_CHARS]}... ({len(text)} characters)"


def check_party_id(party_id: object) -> str:
    """Return a valid party id or raise SpecError.

    Party ids are 1 to 32 characters of lower-case ASCII letters, digits
    and inner hyphens, starting with a letter. Anything else, including text
    that only looks like such an id (Cyrillic 'а' for Latin 'a', a
    full-width letter), is rejected rather than normalised, so two ids
    that render alike cannot name different parties.
    """
    if not isinstance(party_id, str):
        raise SpecError(f"party id must be a string, got {_show(party_id)}")
    if unicodedata.normalize("NFKC", party_id) != party_id or not (
        party_id.isascii() and PARTY_ID_PATTERN.fullmatch(party_id)
    ):
        raise SpecError(
            f"invalid party id {ascii(party_id)}: use 1 to 32 lower-case "
            "ASCII letters, digits and inner hyphens, starting with a "
            "letter"
        )
    return party_id


@dataclass(frozen=True)
class Filter:
    """Keep only records whose `column` compares true with `value`."""

    column: str
    op: str
    value: str | float


@dataclass(frozen=True)
class Query:
    """One statistic over a dataset column.

    `clip` bounds are in the column's units; `scale` is the number of
    decimal digits kept in fixed point. Histograms have either numeric
    bins (`bins_start`, `bins_width`, `bins_count`) or `categories`.
    A `vector` query takes a raw vector input of `length` elements, each
    in `clip`, or one-hot when `one_hot` is set. With `dataset` and
    `column` each party reads its vector from that column, one row per
    element; without them the vector is given in memory.
    """

    name: str
    kind: str
    dataset: str = ""
    column: str = ""
    clip: tuple[float, float] | None = None
    scale: int = 0
    bins_start: float = 0.0
    bins_width: float = 0.0
    bins_count: int = 0
    categories: tuple[str, ...] = ()
    filter: Filter | None = None
    length: int = 0
    one_hot: bool = False
    weight: float = 1.0
    predicate: str = ""
    """A vector's validity predicate, registered in mpc.predicates."""
    predicate_args: dict[str, Any] = field(default_factory=dict)

    @property
    def num_elements(self) -> int:
        """Number of field elements this query adds to a party's input."""
        if self.kind in ("count", "sum"):
            return 1
        if self.kind == "mean":
            return 2
        if self.kind == "histogram":
            return len(self.categories) or self.bins_count
        return self.length

    def scaled_clip(self) -> tuple[int, int]:
        """Return the clip bounds in fixed-point integer units."""
        assert self.clip is not None
        factor = 10**self.scale
        return round(self.clip[0] * factor), round(self.clip[1] * factor)


@dataclass(frozen=True)
class JobSpec:
    """A whole job: parties, privacy budget, protocol options, queries."""

    parties: tuple[str, ...]
    queries: tuple[Query, ...]
    epsilon: float
    delta: float
    mechanism: str = "binomial"
    proofs: str = "range"
    colluding: int | None = None
    phase_timeout: float = DEFAULT_PHASE_TIMEOUT
    name: str = "job"
    initiator: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_parties(self) -> int:
        return len(self.parties)

    @property
    def threshold(self) -> int:
        """Number of parties that may collude (t), default m - 1."""
        if self.colluding is None:
            return self.num_parties - 1
        return self.colluding

    @property
    def datasets(self) -> tuple[str, ...]:
        return tuple(sorted({q.dataset for q in self.queries if q.dataset}))

    @property
    def num_elements(self) -> int:
        return sum(q.num_elements for q in self.queries)

    def to_json(self) -> str:
        """Return the canonical JSON encoding."""
        data = asdict(self)
        data.pop("extra")
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    def digest(self) -> bytes:
        """Return SHA-256 of the canonical JSON encoding."""
        return hashlib.sha256(self.to_json().encode("utf-8")).digest()


def _number(value: object, key: str) -> float:
    # None is a key left out (TOML has no null; a JSON null reads the same).
    if value is None:
        raise SpecError(f"{key} is missing: set it to a number")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"{key} must be a number, got {_show(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise SpecError(f"{key} must be finite, got {_show(value)}")
    return number


def _integer(value: object, key: str, low: int, high: int) -> int:
    if value is None:
        raise SpecError(
            f"{key} is missing: set it to an integer in [{low}, {high}]")
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{key} must be an integer, got {_show(value)}")
    if not low <= value <= high:
        raise SpecError(f"{key} must be in [{low}, {high}], got {value}")
    return value


def _text(value: object, key: str) -> str:
    if value is None:
        raise SpecError(f"{key} is missing: set it to a non-empty string")
    if not isinstance(value, str) or not value.strip():
        raise SpecError(
            f"{key} must be a non-empty string, got {_show(value)}")
    return value


def _parse_filter(raw: object, where: str) -> Filter | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise SpecError(f"{where}.filter must be a table, got {_show(raw)}")
    unknown = set(raw) - {"column", "op", "value"}
    if unknown:
        raise SpecError(f"{where}.filter has unknown keys {sorted(unknown)}")
    op = raw.get("op", "==")
    if op not in FILTER_OPS:
        raise SpecError(
            f"{where}.filter.op must be one of {FILTER_OPS}, got {_show(op)}"
        )
    value = raw.get("value")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise SpecError(
            f"{where}.filter.value must be a string or number, "
            f"got {_show(value)}"
        )
    if isinstance(value, (int, float)):
        value = _number(value, f"{where}.filter.value")
    return Filter(_text(raw.get("column"), f"{where}.filter.column"),
                  op, value)


def _parse_clip(raw: object, where: str) -> tuple[float, float]:
    if not isinstance(raw, (list, tuple)) or len(raw) != 2:
        raise SpecError(f"{where}.clip must be [low, high], got {_show(raw)}")
    low = _number(raw[0], f"{where}.clip[0]")
    high = _number(raw[1], f"{where}.clip[1]")
    if not low < high:
        raise SpecError(
            f"{where}.clip must have low < high, got [{low}, {high}]"
        )
    return low, high


_QUERY_KEYS = {
    "name", "kind", "dataset", "column", "clip", "scale", "bins",
    "categories", "filter", "length", "one_hot", "weight",
    "predicate", "predicate_args",
}


def parse_query(raw: dict[str, Any], index: int) -> Query:
    """Validate one query table of a job file."""
    where = f"query[{index}]"
    if not isinstance(raw, dict):
        raise SpecError(f"{where} must be a table, got {_show(raw)}")
    unknown = set(raw) - _QUERY_KEYS
    if unknown:
        raise SpecError(f"{where} has unknown keys {sorted(unknown)}")
    kind = raw.get("kind")
    if kind not in QUERY_KINDS:
        raise SpecError(
            f"{where}.kind must be one of {QUERY_KINDS}, got {_show(kind)}"
        )
    name = raw.get("name", f"{kind}_{index}")
    if not isinstance(name, str) or not _NAME.match(name):
        raise SpecError(
            f"{where}.name must be 1-64 letters, digits, '.', '-' or '_', "
            f"got {_show(name)}"
        )
    weight = _number(raw.get("weight", 1.0), f"{where}.weight")
    if weight <= 0:
        raise SpecError(f"{where}.weight must be > 0, got {weight}")
    scale = _integer(raw.get("scale", 0), f"{where}.scale", 0, MAX_SCALE)
    fields: dict[str, Any] = {
        "name": name, "kind": kind, "weight": weight, "scale": scale,
    }

    if kind == "vector":
        fields["length"] = _integer(
            raw.get("length"), f"{where}.length", 1, MAX_VECTOR_LENGTH
        )
        fields["one_hot"] = bool(raw.get("one_hot", False))
        if {"predicate", "predicate_args"} & set(raw):
            _parse_predicate(raw, where, fields)
        elif fields["one_hot"]:
            fields["clip"] = (0.0, 1.0)
        else:
            fields["clip"] = _parse_clip(raw.get("clip"), where)
        _parse_vector_source(raw, where, fields)
    else:
        if {"predicate", "predicate_args"} & set(raw):
            raise SpecError(f"{where}: only vector queries take a predicate")
        fields["dataset"] = _text(raw.get("dataset"), f"{where}.dataset")
        fields["filter"] = _parse_filter(raw.get("filter"), where)
    if kind in ("sum", "mean", "histogram"):
        fields["column"] = _text(raw.get("column"), f"{where}.column")
    if kind in ("sum", "mean"):
        fields["clip"] = _parse_clip(raw.get("clip"), where)
    if kind == "histogram":
        _parse_bins(raw, where, fields)

    query = Query(**fields)
    if query.clip is not None:
        low, high = query.scaled_clip()
        if not low < high:
            raise SpecError(
                f"{where}.clip {list(query.clip)} at scale {scale} rounds "
                "to one value; widen the bounds or raise the scale"
            )
    return query


def _parse_vector_source(raw: dict, where: str,
                         fields: dict[str, Any]) -> None:
    """Read where a vector query's elements come from.

    With `dataset` and `column`, each party reads its vector from that
    column of its dataset, one row per element. Without them it takes
    the vector its runtime was given in memory (experiments).
    """
    if raw.get("filter") is not None:
        raise SpecError(
            f"{where} is a vector query, which takes no filter: its "
            "dataset must have exactly one row per element"
        )
    if raw.get("dataset") is None:
        if raw.get("column") is not None:
            raise SpecError(
                f"{where}.column needs a dataset: give both, or neither "
                "for a vector held in memory"
            )
        return
    fields["dataset"] = _text(raw.get("dataset"), f"{where}.dataset")
    fields["column"] = _text(raw.get("column"), f"{where}.column")


def _parse_predicate(raw: dict, where: str, fields: dict[str, Any]) -> None:
    """Read a vector's predicate: its key, its arguments and its bounds.

    The predicate fixes every element's range, so `clip` and `one_hot`
    are not given with it; `clip` becomes the range that covers every
    element, which sets the query's sensitivity. Scale must be 0, since
    a predicate's bounds are integers.
    """
    if raw.get("clip") is not None or fields["one_hot"]:
        raise SpecError(
            f"{where} has a predicate, which fixes the element ranges: "
            "leave out clip and one_hot"
        )
    if fields["scale"] != 0:
        raise SpecError(f"{where} has a predicate, so its scale must be 0")
    key = _text(raw.get("predicate"), f"{where}.predicate")
    args = raw.get("predicate_args", {})
    if not isinstance(args, dict):
        raise SpecError(
            f"{where}.predicate_args must be a table, got {_show(args)}")
    try:
        built = build_predicate(key, fields["length"], args)
    except KeyError as exc:
        raise SpecError(f"{where}.predicate: {exc.args[0]}") from None
    except (ValueError, TypeError) as exc:
        raise SpecError(f"{where}.predicate {_show(key)}: {exc}") from None
    low, high = built.envelope()
    fields.update(predicate=key, predicate_args=dict(args),
                  clip=(float(low), float(high)))


def _parse_bins(raw: dict, where: str, fields: dict[str, Any]) -> None:
    bins, categories = raw.get("bins"), raw.get("categories")
    if (bins is None) == (categories is None):
        raise SpecError(
            f"{where} is a histogram: give exactly one of 'bins' "
            "(start, width, count) or 'categories'"
        )
    if categories is not None:
        if not isinstance(categories, list) or not categories:
            raise SpecError(
                f"{where}.categories must be a non-empty list, "
                f"got {_show(categories)}"
            )
        texts = [_text(c, f"{where}.categories[]") for c in categories]
        if len(set(texts)) != len(texts):
            raise SpecError(f"{where}.categories has duplicates: {texts}")
        if len(texts) > MAX_HISTOGRAM_BINS:
            raise SpecError(
                f"{where}.categories has {len(texts)} entries, "
                f"more than {MAX_HISTOGRAM_BINS}"
            )
        fields["categories"] = tuple(texts)
        return
    if not isinstance(bins, dict):
        raise SpecError(
            f"{where}.bins must be a table with start, width and count, "
            f"got {_show(bins)}"
        )
    fields["bins_start"] = _number(bins.get("start"), f"{where}.bins.start")
    width = _number(bins.get("width"), f"{where}.bins.width")
    if width <= 0:
        raise SpecError(f"{where}.bins.width must be > 0, got {width}")
    fields["bins_width"] = width
    fields["bins_count"] = _integer(
        bins.get("count"), f"{where}.bins.count", 1, MAX_HISTOGRAM_BINS
    )


_JOB_KEYS = {
    "parties", "query", "queries", "epsilon", "delta", "mechanism",
    "proofs", "colluding", "phase_timeout", "name",
}


def parse_spec(raw: dict[str, Any], initiator: str = "") -> JobSpec:
    """Validate a job table (from a TOML job file or JSON) into a JobSpec.

    `initiator`, when given, must be one of the parties.
    """
    if not isinstance(raw, dict):
        raise SpecError(f"a job must be a table, got {type(raw).__name__}")
    raw = dict(raw)
    raw.pop("initiator", None)
    unknown = set(raw) - _JOB_KEYS
    if unknown:
        raise SpecError(f"job has unknown keys {sorted(unknown)}")

    parties = raw.get("parties")
    if not isinstance(parties, list):
        raise SpecError(f"parties must be a list of ids, got {_show(parties)}")
    ids = [check_party_id(p) for p in parties]
    if len(ids) < 2:
        raise SpecError(f"a job needs at least 2 parties, got {ids}")
    duplicates = sorted({p for p in ids if ids.count(p) > 1})
    if duplicates:
        raise SpecError(f"parties are listed twice: {duplicates}")
    if initiator and initiator not in ids:
        raise SpecError(
            f"initiator {_show(initiator)} is not among the parties {ids}"
        )

    mechanism = raw.get("mechanism", "binomial")
    if mechanism not in MECHANISMS and not is_registered(mechanism):
        raise SpecError(
            f"mechanism must be one of {MECHANISMS} or a registered "
            f"mechanism (mpc.mechanisms), got {_show(mechanism)}"
        )
    proofs = raw.get("proofs", "range")
    if proofs not in PROOF_MODES:
        raise SpecError(
            f"proofs must be one of {PROOF_MODES}, got {_show(proofs)}")
    epsilon, delta = _parse_budget(raw, mechanism)

    colluding = raw.get("colluding")
    if colluding is not None:
        colluding = _integer(colluding, "colluding", 0, len(ids) - 1)
    timeout = _number(
        raw.get("phase_timeout", DEFAULT_PHASE_TIMEOUT), "phase_timeout"
    )
    if not 0 < timeout <= 3600:
        raise SpecError(
            f"phase_timeout must be in (0, 3600] seconds, got {timeout}"
        )
    name = raw.get("name", "job")
    if not isinstance(name, str) or not _NAME.match(name):
        raise SpecError(
            f"name must be 1-64 letters, digits, '.', '-' or '_', "
            f"got {_show(name)}"
        )

    raw_queries = raw.get("query", raw.get("queries"))
    if not isinstance(raw_queries, list) or not raw_queries:
        raise SpecError("a job needs at least one [[query]] table")
    queries = tuple(parse_query(q, i) for i, q in enumerate(raw_queries))
    names = [q.name for q in queries]
    if len(set(names)) != len(names):
        raise SpecError(f"query names must be unique, got {names}")
    return JobSpec(
        parties=tuple(ids), queries=queries, epsilon=epsilon, delta=delta,
        mechanism=mechanism, proofs=proofs, colluding=colluding,
        phase_timeout=timeout, name=name, initiator=initiator,
    )


def _parse_budget(raw: dict, mechanism: str) -> tuple[float, float]:
    """Validate epsilon and delta.

    The binomial mechanism needs delta > 0. Discrete Laplace is pure
    epsilon apart from truncating each sample at its tail bound, so its
    delta may be left out or 0; the noise plan then records the
    truncation delta (about 2^-40 per sample) as the delta spent.
    """
    if mechanism == "none":
        return 0.0, 0.0
    for key in ("epsilon", "delta"):
        value = raw.get(key)
        optional = key == "delta" and mechanism == "discrete_laplace"
        if optional and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(f"{key} must be a number, got {_show(value)}")
        if optional and value == 0:
            continue
        if not math.isfinite(value) or value <= 0:
            raise SpecError(
                f"{key} must be a finite number > 0, got {_show(value)}"
            )
    epsilon = float(raw["epsilon"])
    if epsilon > MAX_EPSILON:
        raise SpecError(f"epsilon must be at most {MAX_EPSILON:g}, "
                        f"got {epsilon:g}")
    delta = float(raw.get("delta") or 0.0)
    if delta >= 1:
        raise SpecError(f"delta must be below 1, got {delta}")
    return epsilon, delta


def spec_from_json(text: str | bytes) -> JobSpec:
    """Decode the canonical JSON encoding made by JobSpec.to_json."""
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(
            f"job spec is {len(text)} bytes, more than {MAX_SPEC_BYTES}")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"job spec is not valid JSON: {exc}") from None
    except (RecursionError, ValueError) as exc:
        # Deep nesting, or an integer too long to convert.
        raise SpecError(f"job spec JSON is not accepted: "
                        f"{type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise SpecError("job spec JSON must be an object")
    raw_queries = data.get("queries") or []
    if not isinstance(raw_queries, list):
        raise SpecError("job spec queries must be a list")
    queries = []
    for i, q in enumerate(raw_queries):
        if not isinstance(q, dict):
            raise SpecError(f"query[{i}] must be an object")
        q = dict(q)
        # A filter that is not an object, or a clip that is not a list,
        # raises TypeError here, which must reach the peer as SpecError.
        try:
            if q.get("filter") is not None:
                q["filter"] = Filter(**q["filter"])
            if q.get("clip") is not None:
                q["clip"] = tuple(q["clip"])
            q["categories"] = tuple(q.get("categories") or ())
            queries.append(Query(**q))
        except (TypeError, ValueError) as exc:
            raise SpecError(f"query[{i}] is malformed: {exc}") from None
    try:
        spec = JobSpec(
            **{**data, "parties": tuple(data["parties"]),
               "queries": tuple(queries)}
        )
    except (TypeError, KeyError) as exc:
        raise SpecError(f"job spec is malformed: {exc}") from None
    # Re-validate through the table parser so a peer cannot send a spec
    # that the job file checks would reject, and require the canonical
    # form, so no field that the parser would not set rides along.
    try:
        checked = parse_spec(_spec_to_table(spec), spec.initiator)
        canonical = checked.to_json() == spec.to_json()
    except SpecError:
        raise
    except (TypeError, ValueError, AttributeError) as exc:
        raise SpecError(f"job spec is malformed: {exc}") from None
    if not canonical:
        raise SpecError("job spec is not in the canonical form that "
                        "parse_spec produces")
    return spec


def _spec_to_table(spec: JobSpec) -> dict[str, Any]:
    queries = []
    for q in spec.queries:
        table: dict[str, Any] = {"name": q.name, "kind": q.kind,
                                 "weight": q.weight, "scale": q.scale}
        if q.kind == "vector":
            table["length"] = q.length
            table["one_hot"] = q.one_hot
            if q.predicate:
                table["predicate"] = q.predicate
                table["predicate_args"] = dict(q.predicate_args)
            elif not q.one_hot:
                table["clip"] = list(q.clip or ())
            if q.dataset:
                table["dataset"] = q.dataset
                table["column"] = q.column
        else:
            table["dataset"] = q.dataset
            if q.filter is not None:
                table["filter"] = asdict(q.filter)
        if q.kind in ("sum", "mean", "histogram"):
            table["column"] = q.column
        if q.kind in ("sum", "mean"):
            table["clip"] = list(q.clip or ())
        if q.kind == "histogram":
            if q.categories:
                table["categories"] = list(q.categories)
            else:
                table["bins"] = {"start": q.bins_start,
                                 "width": q.bins_width,
                                 "count": q.bins_count}
        queries.append(table)
    table = {
        "parties": list(spec.parties), "query": queries,
        "mechanism": spec.mechanism, "proofs": spec.proofs,
        "phase_timeout": spec.phase_timeout, "name": spec.name,
    }
    if spec.mechanism != "none":
        table["epsilon"] = spec.epsilon
        table["delta"] = spec.delta
    if spec.colluding is not None:
        table["colluding"] = spec.colluding
    return table
