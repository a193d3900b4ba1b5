"""Party configuration and deployment files (TOML).

A party reads two files. Its own `party.toml` names its id, listen
address, state directory, key, certificate, datasets and policy. The
deployment file, shared by all parties, lists every party's id, address and
pinned certificate. Relative paths in either file are resolved against the
directory of the file that contains them.

Loading validates everything a daemon needs before it binds a port. It
checks key types and value ranges, and that each pinned certificate names
the party it is listed under. It checks that the party's own key matches
its certificate and that its policy names only known datasets and
parties. Every failure raises ConfigError with the file, the key, the
value and what to change.

The writers produce the same formats for `mpc init` and the demo with a
small TOML writer for these flat structures, so no TOML library beyond
the standard `tomllib` reader is needed.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mpc.spec import SpecError, check_party_id

DEFAULT_PHASE_TIMEOUT = 30.0
DEFAULT_MAX_DELTA = 1e-5
LOG_FORMATS = ("text", "json")
MISSING_MODES = ("drop", "reject")
DATASET_FORMATS = ("csv", "parquet", "npy")
ANY_INITIATOR = "*"

_DATASET_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_HOST_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_REQUIRED = object()

_PARTY_KEYS = (
    "party_id",
    "listen",
    "state_dir",
    "key",
    "certificate",
    "deployment",
    "phase_timeout",
    "proof_workers",
    "log_format",
    "metrics_listen",
    "datasets",
    "policy",
)
_REQUIRED_PARTY_KEYS = _PARTY_KEYS[:6]
_DATASET_KEYS = ("path", "format", "missing")
_POLICY_KEYS = ("initiators", "max_epsilon", "max_delta")
_PEER_KEYS = ("address", "certificate")


class ConfigError(ValueError):
    """A party configuration or deployment file that is not valid."""


def validate_party_id(party_id: str) -> str:
    """Return `party_id` unchanged if it is a valid party id.

    The rule is mpc.spec.check_party_id's: one lower-case DNS label of 1
    to 32 ASCII characters. Look-alike text (a Cyrillic 'а', a full-width
    letter) is rejected, not normalised. Raises ValueError, whose message
    shows the id with non-ASCII characters escaped.
    """
    try:
        return check_party_id(party_id)
    except SpecError as exc:
        raise ValueError(str(exc)) from None


def split_address(address: str) -> tuple[str, int]:
    """Split a `host:port` address into its host and port.

    The host is a DNS name, an IPv4 address or a bracketed IPv6 address
    (`[::1]:50051`). The port is 0 to 65535, where 0 lets the system pick
    a free port when listening. Raises ValueError otherwise.
    """
    expected = "expected host:port with a port from 0 to 65535"
    if not isinstance(address, str):
        raise ValueError(f"address must be a string, got {address!r}")
    host, sep, port_text = address.rpartition(":")
    digits_ok = port_text.isascii() and port_text.isdigit()
    if not sep or not host or not digits_ok or len(port_text) > 5:
        raise ValueError(f"invalid address {address!r}: {expected}")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"invalid address {address!r}: {expected}")

    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ValueError(
                f"invalid address {address!r}: {host} is not an IPv6 address"
            ) from None
        return host[1:-1], port
    if not (host.isascii() and _HOST_NAME.fullmatch(host)):
        raise ValueError(
            f"invalid address {address!r}: the host must be a DNS name, an "
            "IPv4 address or an IPv6 address in brackets"
        )
    return host, port


@dataclass(frozen=True)
class DatasetConfig:
    """A dataset that a party offers to queries."""

    name: str
    path: Path
    format: str
    """`csv` (plain or gzip-compressed), `parquet` or `npy`."""
    missing: str
    """`drop` (drop and count missing values) or `reject` (reject the job)."""


@dataclass(frozen=True)
class PeerInfo:
    """One party of a deployment: its id, address and pinned certificate."""

    party_id: str
    address: str
    certificate_pem: bytes


@dataclass(frozen=True)
class Deployment:
    """Every party of a deployment, by party id."""

    parties: dict[str, PeerInfo]
    source: Path

    def peer(self, party_id: str) -> PeerInfo:
        """Return the entry of `party_id`, or raise ConfigError if absent."""
        try:
            return self.parties[party_id]
        except KeyError:
            known = ", ".join(sorted(self.parties))
            raise ConfigError(
                f"party {ascii(party_id)} is not listed in the deployment "
                f"file {self.source} (parties: {known}); add it under "
                "[parties] or use one of the listed ids"
            ) from None


@dataclass(frozen=True)
class Policy:
    """The parties allowed to propose jobs, and the privacy budget caps.

    An empty `initiators` lets no party propose jobs. `max_delta` has an
    entry for every dataset in `max_epsilon` (the default 1e-5 where the
    file sets none). A dataset without an entry in `max_epsilon` cannot be
    queried.
    """

    initiators: tuple[str, ...]
    max_epsilon: dict[str, float]
    max_delta: dict[str, float]

    def allows_initiator(self, party_id: str, deployment: Deployment) -> bool:
        """Return whether `party_id` may propose jobs to this party.

        `*` allows any party of the deployment. A party outside the
        deployment is never allowed.
        """
        if party_id not in deployment.parties:
            return False
        return ANY_INITIATOR in self.initiators or (
            party_id in self.initiators
        )


@dataclass(frozen=True)
class PartyConfig:
    """A party's configuration, with every path absolute."""

    party_id: str
    listen: str
    state_dir: Path
    key_path: Path
    certificate_path: Path
    deployment_path: Path
    phase_timeout: float
    """Deadline of each protocol phase, in seconds."""
    proof_workers: int
    """Size of the process pool for proofs."""
    log_format: str
    datasets: dict[str, DatasetConfig]
    policy: Policy
    source: Path
    """The configuration file this was loaded from."""
    metrics_listen: str = ""
    """host:port of the Prometheus endpoint; empty when it is off."""


class _Table:
    """A TOML table with the file and key prefix used in error messages."""

    def __init__(self, data: Any, source: Path, prefix: str = "") -> None:
        self.source = source
        self.prefix = prefix
        if not isinstance(data, dict):
            raise ConfigError(
                f"key {prefix.rstrip('.')!r} in {source} must be a table, "
                f"got {data!r}; write it as [{prefix.rstrip('.')}]"
            )
        self.data: dict[str, Any] = data

    def name(self, key: str) -> str:
        return self.prefix + key

    def error(self, key: str, message: str) -> ConfigError:
        value = self.data.get(key)
        return ConfigError(
            f"invalid value {value!r} for key {self.name(key)!r} in "
            f"{self.source}: {message}"
        )

    def check_keys(self, allowed: tuple[str, ...]) -> None:
        for key in self.data:
            if key not in allowed:
                raise ConfigError(
                    f"unknown key {self.name(key)!r} in {self.source}; "
                    f"the allowed keys here are {', '.join(allowed)}"
                )

    def get(self, key: str, default: Any = _REQUIRED) -> Any:
        if key in self.data:
            return self.data[key]
        if default is _REQUIRED:
            raise ConfigError(
                f"missing key {self.name(key)!r} in {self.source}; add it"
            )
        return default

    def string(self, key: str, default: Any = _REQUIRED) -> str:
        value = self.get(key, default)
        if not isinstance(value, str) or not value:
            raise self.error(key, "it must be a non-empty string")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(key, default)
        if value not in choices:
            raise self.error(key, f"use one of {', '.join(choices)}")
        return str(value)

    def path(self, key: str) -> Path:
        return self.source.parent / self.string(key)

    def table(self, key: str) -> _Table:
        return _Table(self.get(key, {}), self.source, self.name(key) + ".")


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(
            f"{what} {path} not found; check the path or create the file"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{what} {path} is not valid TOML: {exc}; fix the syntax"
        ) from None


def load_deployment(path: str | os.PathLike[str]) -> Deployment:
    """Load and validate a deployment file.

    Raises ConfigError for a missing or unreadable file, a party id that is
    not valid, an address that is not host:port, or two parties at one
    address. It also raises ConfigError for a certificate file that is
    missing or empty, that is not one PEM X.509 certificate with an EC
    P-256 key, or that names another party.
    """
    source = Path(path).absolute()
    root = _Table(_read_toml(source, "deployment file"), source)
    root.check_keys(("parties",))
    parties_table = root.table("parties")
    if not parties_table.data:
        raise ConfigError(
            f"deployment file {source} lists no parties; add a "
            "[parties.<id>] table with address and certificate for each"
        )

    # Step 1: each entry on its own.
    parties: dict[str, PeerInfo] = {}
    dns_names: dict[str, list[str]] = {}
    for party_id in parties_table.data:
        try:
            validate_party_id(party_id)
        except ValueError as exc:
            raise ConfigError(f"in deployment file {source}: {exc}") from None
        entry = parties_table.table(party_id)
        entry.check_keys(_PEER_KEYS)
        address = entry.string("address")
        try:
            split_address(address)
        except ValueError as exc:
            raise entry.error("address", str(exc)) from None
        cert_path = entry.path("certificate")
        pem = _read_certificate_file(cert_path, entry.name("certificate"))
        cert = _parse_certificate(pem, cert_path)
        dns_names[party_id] = _check_certificate_names(
            cert, party_id, cert_path
        )
        parties[party_id] = PeerInfo(party_id, address, pem)

    # Step 2: checks across entries.
    by_address: dict[str, str] = {}
    for party_id, peer in parties.items():
        # Port 0 is a placeholder for an address not yet bound, so two
        # placeholders are not a conflict.
        if split_address(peer.address)[1] == 0:
            continue
        other = by_address.setdefault(peer.address, party_id)
        if other != party_id:
            raise ConfigError(
                f"parties {other!r} and {party_id!r} in {source} have the "
                f"same address {peer.address!r}; give each its own port"
            )
    for party_id, names in dns_names.items():
        for name in names:
            if name != party_id and name in parties:
                raise ConfigError(
                    f"the certificate of party {party_id!r} in {source} "
                    f"also names party {name!r} in its DNS subject "
                    "alternative names; issue a certificate that names "
                    "only its own party"
                )
    return Deployment(parties, source)


def _read_certificate_file(path: Path, key: str) -> bytes:
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"certificate file {path} (key {key!r}) not found; create it "
            "with `mpc init` or fix the path"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read certificate file {path} (key {key!r}): {exc}"
        ) from None
    if not pem.strip():
        raise ConfigError(
            f"certificate file {path} (key {key!r}) is empty; copy the "
            "party's PEM certificate into it"
        )
    return pem


def _parse_certificate(pem: bytes, path: Path) -> x509.Certificate:
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise ConfigError(
            f"certificate file {path} is not a PEM X.509 certificate; copy "
            "the party's certificate (-----BEGIN CERTIFICATE-----) into it"
        ) from None
    if len(certs) != 1:
        raise ConfigError(
            f"certificate file {path} contains {len(certs)} certificates; "
            "keep exactly the party's own certificate"
        )
    cert = certs[0]
    public_key = cert.public_key()
    if not (
        isinstance(public_key, ec.EllipticCurvePublicKey)
        and isinstance(public_key.curve, ec.SECP256R1)
    ):
        raise ConfigError(
            f"certificate file {path} contains a certificate whose key is not "
            "EC P-256; create the party's identity with `mpc init`"
        )
    return cert


def _check_certificate_names(
    cert: x509.Certificate, party_id: str, path: Path
) -> list[str]:
    """Check that `cert` names `party_id`, and return its DNS names."""
    common_names = [
        str(attribute.value)
        for attribute in cert.subject.get_attributes_for_oid(
            NameOID.COMMON_NAME
        )
    ]
    try:
        san = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        )
        values = san.value.get_values_for_type(x509.DNSName)
        dns_names = [str(value) for value in values]
    except x509.ExtensionNotFound:
        dns_names = []

    for name in common_names:
        if name != party_id:
            raise ConfigError(
                f"certificate file {path} is listed under party "
                f"{party_id!r} but its subject common name is {name!r}; "
                "pin the certificate of that party instead"
            )
    if dns_names and party_id not in dns_names:
        raise ConfigError(
            f"certificate file {path} is listed under party {party_id!r} "
            f"but its DNS subject alternative names are {dns_names!r}; "
            "pin the certificate of that party instead"
        )
    if not common_names and not dns_names:
        raise ConfigError(
            f"certificate file {path} is listed under party {party_id!r} "
            "but names no party: it has neither a subject common name nor "
            "a DNS subject alternative name"
        )
    return dns_names


def load_party_config(path: str | os.PathLike[str]) -> PartyConfig:
    """Load and validate a party's configuration and its deployment file.

    Raises ConfigError for a missing file or key, an unknown key, or a
    value of the wrong type or range. It also raises ConfigError for a
    deployment file that is not valid (see `load_deployment`) or does not
    list this party, a key or certificate that does not belong to this
    party, and a policy that names an unknown party or dataset. Dataset
    files are not opened here, so they may be replaced while the daemon
    runs, and `parties.datasets` reports a missing one when a job reads
    it.
    """
    source = Path(path).absolute()
    root = _Table(_read_toml(source, "party config file"), source)
    root.check_keys(_PARTY_KEYS)

    # Step 1: scalar settings.
    party_id = root.string("party_id")
    try:
        validate_party_id(party_id)
    except ValueError as exc:
        raise root.error("party_id", str(exc)) from None
    listen = root.string("listen")
    try:
        split_address(listen)
    except ValueError as exc:
        raise root.error("listen", str(exc)) from None
    phase_timeout = root.get("phase_timeout", DEFAULT_PHASE_TIMEOUT)
    if not _is_number(phase_timeout) or not (0 < phase_timeout < math.inf):
        raise root.error(
            "phase_timeout", "it must be a number of seconds greater than 0"
        )
    proof_workers = root.get("proof_workers", os.cpu_count() or 1)
    if type(proof_workers) is not int or proof_workers < 1:
        raise root.error(
            "proof_workers", "it must be a whole number of at least 1"
        )
    log_format = root.choice("log_format", LOG_FORMATS, "text")
    metrics_listen = root.get("metrics_listen", "")
    if metrics_listen:
        try:
            split_address(metrics_listen)
        except (TypeError, ValueError) as exc:
            raise root.error("metrics_listen", str(exc)) from None

    # Step 2: the deployment must list this party with this certificate.
    deployment_path = root.path("deployment")
    deployment = load_deployment(deployment_path)
    if party_id not in deployment.parties:
        raise ConfigError(
            f"party {party_id!r} of {source} is not listed in the "
            f"deployment file {deployment_path}; add [parties.{party_id}] "
            "there"
        )
    key_path = root.path("key")
    certificate_path = root.path("certificate")
    _check_own_identity(
        key_path,
        certificate_path,
        deployment.parties[party_id].certificate_pem,
        deployment_path,
    )

    # Step 3: datasets and the policy over them.
    datasets = _load_datasets(root.table("datasets"))
    policy = _load_policy(root.table("policy"), datasets, deployment)
    return PartyConfig(
        party_id=party_id,
        listen=listen,
        state_dir=root.path("state_dir"),
        key_path=key_path,
        certificate_path=certificate_path,
        deployment_path=deployment.source,
        phase_timeout=float(phase_timeout),
        proof_workers=proof_workers,
        log_format=log_format,
        datasets=datasets,
        policy=policy,
        source=source,
        metrics_listen=metrics_listen,
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_own_identity(
    key_path: Path,
    certificate_path: Path,
    pinned_pem: bytes,
    deployment_path: Path,
) -> None:
    """Check the party's key, certificate and pinned certificate agree."""
    pem = _read_certificate_file(certificate_path, "certificate")
    cert = _parse_certificate(pem, certificate_path)
    pinned = x509.load_pem_x509_certificate(pinned_pem)
    if cert != pinned:
        raise ConfigError(
            f"certificate file {certificate_path} differs from the "
            f"certificate pinned for this party in {deployment_path}; "
            "copy the party's certificate into the deployment"
        )

    try:
        key_pem = key_path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"key file {key_path} (key 'key') not found; create it with "
            "`mpc init` or fix the path"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read key file {key_path}: {exc}") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise ConfigError(
            f"key file {key_path} is not an unencrypted PEM private key; "
            "create the party's identity with `mpc init`"
        ) from None
    if not (
        isinstance(key, ec.EllipticCurvePrivateKey)
        and isinstance(key.curve, ec.SECP256R1)
    ):
        raise ConfigError(f"key file {key_path} is not an EC P-256 key")
    if _public_key_der(key.public_key()) != _public_key_der(cert.public_key()):
        raise ConfigError(
            f"key file {key_path} does not match certificate file "
            f"{certificate_path}; use the key the certificate was made for"
        )


def _public_key_der(public_key: Any) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo,
    )


def _load_datasets(table: _Table) -> dict[str, DatasetConfig]:
    datasets = {}
    for name in table.data:
        if not (name.isascii() and _DATASET_NAME.fullmatch(name)):
            raise ConfigError(
                f"invalid dataset name {ascii(name)} in {table.source}: use "
                "1 to 64 ASCII letters, digits, '_', '.' or '-'"
            )
        entry = table.table(name)
        entry.check_keys(_DATASET_KEYS)
        path = entry.path("path")
        if "format" in entry.data:
            data_format = entry.choice("format", DATASET_FORMATS, "csv")
        else:
            data_format = _infer_format(path, entry)
        missing = entry.choice("missing", MISSING_MODES, "drop")
        datasets[name] = DatasetConfig(name, path, data_format, missing)
    return datasets


def _infer_format(path: Path, entry: _Table) -> str:
    lower = path.name.lower()
    if lower.endswith((".csv", ".csv.gz")):
        return "csv"
    if lower.endswith((".parquet", ".pq")):
        return "parquet"
    if lower.endswith(".npy"):
        return "npy"
    raise entry.error(
        "path",
        "the format cannot be inferred from the file name (.csv, .csv.gz, "
        '.parquet or .npy); set format = "csv", "parquet" or "npy"',
    )


def _load_policy(
    table: _Table, datasets: dict[str, DatasetConfig], deployment: Deployment
) -> Policy:
    table.check_keys(_POLICY_KEYS)

    # Step 1: initiators.
    initiators = table.get("initiators", [])
    if not isinstance(initiators, list) or not all(
        isinstance(item, str) for item in initiators
    ):
        raise table.error("initiators", "it must be a list of party ids")
    if ANY_INITIATOR in initiators and len(initiators) > 1:
        raise table.error(
            "initiators",
            f"{ANY_INITIATOR!r} allows every party, so it must be the only "
            "element",
        )
    for party_id in initiators:
        if party_id == ANY_INITIATOR:
            continue
        try:
            validate_party_id(party_id)
        except ValueError as exc:
            raise table.error("initiators", str(exc)) from None
        if party_id not in deployment.parties:
            raise table.error(
                "initiators",
                f"party {party_id!r} is not listed in the deployment file "
                f"{deployment.source}",
            )
    if len(set(initiators)) != len(initiators):
        raise table.error("initiators", "remove the repeated party ids")

    # Step 2: budget caps per dataset.
    max_epsilon = _load_caps(table.table("max_epsilon"), datasets)
    for name, value in max_epsilon.items():
        if not 0 <= value < math.inf:
            raise table.table("max_epsilon").error(
                name, "an epsilon cap must be a finite number of at least 0"
            )
    max_delta_table = table.table("max_delta")
    max_delta = _load_caps(max_delta_table, datasets)
    for name, value in max_delta.items():
        if name not in max_epsilon:
            raise max_delta_table.error(
                name,
                f"dataset {name!r} has no entry in policy.max_epsilon, so "
                "it cannot be queried; add an epsilon cap for it",
            )
        if not 0 <= value < 1:
            raise max_delta_table.error(
                name, "a delta cap must be at least 0 and below 1"
            )
    for name in max_epsilon:
        max_delta.setdefault(name, DEFAULT_MAX_DELTA)
    return Policy(tuple(initiators), max_epsilon, max_delta)


def _load_caps(
    table: _Table, datasets: dict[str, DatasetConfig]
) -> dict[str, float]:
    caps = {}
    for name, value in table.data.items():
        if name not in datasets:
            raise table.error(
                name,
                f"dataset {name!r} is not defined; add a [datasets.{name}] "
                "table or remove this cap",
            )
        if not _is_number(value):
            raise table.error(name, "a budget cap must be a number")
        caps[name] = float(value)
    return caps


# Writers, for `mpc init` and the demo.


def write_party_config(path: str | os.PathLike[str], **fields: Any) -> Path:
    """Write a party configuration file and return its path.

    `fields` are the keys of the file. `party_id`, `listen`, `state_dir`,
    `key`, `certificate` and `deployment` are required. `phase_timeout`,
    `proof_workers`, `log_format`, `datasets` (dataset name to a mapping
    of `path`, optional `format` and `missing`) and `policy` (a mapping of
    `initiators`, `max_epsilon` and `max_delta`) are optional. Paths are
    written as given, so relative ones stay relative to the file. The file
    is replaced atomically. Raises ConfigError for an unknown or missing
    field or an invalid party id or listen address. The files it names are
    not checked until the configuration is loaded.
    """
    path = Path(path)
    for key in fields:
        if key not in _PARTY_KEYS:
            raise ConfigError(
                f"unknown party config key {key!r} for {path}; the allowed "
                f"keys are {', '.join(_PARTY_KEYS)}"
            )
    for key in _REQUIRED_PARTY_KEYS:
        if key not in fields:
            raise ConfigError(f"missing key {key!r} for {path}; pass it")
    try:
        validate_party_id(fields["party_id"])
        split_address(fields["listen"])
    except ValueError as exc:
        raise ConfigError(f"cannot write {path}: {exc}") from None

    ordered = {key: fields[key] for key in _PARTY_KEYS if key in fields}
    _write_atomically(path, dumps_toml(ordered))
    return path


def write_deployment(
    path: str | os.PathLike[str],
    entries: Mapping[str, Mapping[str, Any]],
) -> Path:
    """Write a deployment file and return its path.

    `entries` maps each party id to a mapping with `address` (host:port)
    and `certificate` (a path, relative to the deployment file or
    absolute). The file is replaced atomically. Raises ConfigError for an
    invalid party id or address or a missing field.
    """
    path = Path(path)
    parties: dict[str, dict[str, Any]] = {}
    for party_id, entry in entries.items():
        try:
            validate_party_id(party_id)
            split_address(entry["address"])
        except ValueError as exc:
            raise ConfigError(f"cannot write {path}: {exc}") from None
        except KeyError:
            raise ConfigError(
                f"cannot write {path}: party {party_id!r} has no address"
            ) from None
        if "certificate" not in entry:
            raise ConfigError(
                f"cannot write {path}: party {party_id!r} has no certificate"
            )
        parties[party_id] = {
            "address": entry["address"],
            "certificate": entry["certificate"],
        }
    _write_atomically(path, dumps_toml({"parties": parties}))
    return path


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def dumps_toml(document: Mapping[str, Any]) -> str:
    """Render nested mappings of strings, numbers, booleans and lists.

    Paths are written as strings and tuples as arrays. Scalars of a table
    come before its sub-tables, which become `[a.b]` headers. Raises
    ValueError for a NaN or infinite float and TypeError for any other
    type of value.
    """
    lines: list[str] = []
    _dump_table(document, [], lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _dump_table(
    table: Mapping[str, Any], keys: list[str], lines: list[str]
) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, Mapping)}
    tables = {k: v for k, v in table.items() if isinstance(v, Mapping)}
    if keys and (scalars or not tables):
        lines.append("")
        lines.append("[" + ".".join(_toml_key(k) for k in keys) + "]")
    for key, value in scalars.items():
        lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in tables.items():
        _dump_table(value, [*keys, key], lines)


def _toml_key(key: str) -> str:
    if not isinstance(key, str):
        raise TypeError(f"TOML keys must be strings, got {key!r}")
    return key if _BARE_KEY.fullmatch(key) else _toml_string(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write the float {value!r} to TOML")
        return repr(value)
    if isinstance(value, os.PathLike):
        return _toml_string(os.fspath(value))
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write a value of type {type(value).__name__}")


def _toml_string(text: str) -> str:
    escapes = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t"}
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'
