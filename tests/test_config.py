"""Tests for parties.config: party config and deployment files."""

from __future__ import annotations

import datetime
import math
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from parties.config import (
    DEFAULT_MAX_DELTA,
    ConfigError,
    Deployment,
    PeerInfo,
    Policy,
    dumps_toml,
    load_deployment,
    load_party_config,
    split_address,
    validate_party_id,
    write_deployment,
    write_party_config,
)

PARTIES = ("alice", "bob", "carol")
ALICE_CRT = "certs/alice.crt"
BOB_CRT = "certs/bob.crt"


def make_identity(
    directory: Path,
    file_stem: str,
    common_name: str | None,
    dns_names: list[str] | None,
    curve: ec.EllipticCurve | None = None,
) -> tuple[Path, Path]:
    """Write a key and a self-signed certificate, and return their paths."""
    key = ec.generate_private_key(curve or ec.SECP256R1())

    attributes = []
    if common_name is not None:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    name = x509.Name(attributes)
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
    )
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]),
            critical=False,
        )
    cert = builder.sign(key, hashes.SHA256())

    directory.mkdir(parents=True, exist_ok=True)
    key_path = directory / f"{file_stem}.key"
    cert_path = directory / f"{file_stem}.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@pytest.fixture(scope="module")
def identities(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with a key and certificate for each of PARTIES."""
    directory = tmp_path_factory.mktemp("identities")
    for party_id in PARTIES:
        make_identity(directory, party_id, party_id, [party_id])
    return directory


@pytest.fixture
def setup(tmp_path: Path, identities: Path) -> Path:
    """A valid deployment of PARTIES and alice's config, in tmp_path."""
    certs = tmp_path / "certs"
    certs.mkdir()
    for party_id in PARTIES:
        for suffix in (".key", ".crt"):
            name = party_id + suffix
            (certs / name).write_bytes((identities / name).read_bytes())
    write_deployment(
        tmp_path / "deployment.toml",
        {
            party_id: {
                "address": f"127.0.0.1:{50051 + index}",
                "certificate": f"certs/{party_id}.crt",
            }
            for index, party_id in enumerate(PARTIES)
        },
    )
    write_party(tmp_path)
    return tmp_path


def party_fields(**overrides: Any) -> dict[str, Any]:
    """Alice's config fields; an override of None removes the key."""
    fields: dict[str, Any] = {
        "party_id": "alice",
        "listen": "127.0.0.1:0",
        "state_dir": "state",
        "key": "certs/alice.key",
        "certificate": "certs/alice.crt",
        "deployment": "deployment.toml",
        "phase_timeout": 12.5,
        "proof_workers": 3,
        "log_format": "json",
        "datasets": {
            "adult": {"path": "data/adult.csv.gz", "missing": "reject"},
            "visits": {"path": "visits.parquet"},
        },
        "policy": {
            "initiators": ["alice", "bob"],
            "max_epsilon": {"adult": 5.0, "visits": 1},
            "max_delta": {"adult": 1e-6},
        },
    }
    fields.update(overrides)
    return {key: value for key, value in fields.items() if value is not None}


def write_party(directory: Path, **overrides: Any) -> Path:
    return write_party_config(
        directory / "party.toml", **party_fields(**overrides)
    )


def write_party_unchecked(directory: Path, **overrides: Any) -> Path:
    """Write alice's config without the writer's own checks."""
    text = dumps_toml(party_fields(**overrides))
    return write_raw(directory / "party.toml", text)


def write_raw(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def policy_with(**policy: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"initiators": ["bob"], "max_epsilon": {}}
    base.update(policy)
    return base


def write_deployment_entries(
    directory: Path, entries: dict[str, dict[str, str]]
) -> Path:
    return write_deployment(directory / "deployment.toml", entries)


# validate_party_id and split_address


@pytest.mark.parametrize(
    "party_id", ["a", "alice", "bob-2", "x-y", "a" + "b" * 31, "z9"]
)
def test_validate_party_id_accepts_valid(party_id: str) -> None:
    assert validate_party_id(party_id) == party_id


@pytest.mark.parametrize(
    "party_id",
    [
        "",
        "Alice",
        "ALICE",
        "1alice",
        "-alice",
        "_alice",
        "a" * 33,
        "\u0430lice",  # Cyrillic a
        "\uff41lice",  # full-width a
        "al ice",
        "alice\n",
        "al.ice",
        "x_y",  # not a DNS label, so not a TLS host name
        "alice-",
        "ali\u0441e",  # Cyrillic es
    ],
)
def test_validate_party_id_rejects_invalid(party_id: str) -> None:
    with pytest.raises(ValueError, match="invalid party id"):
        validate_party_id(party_id)


def test_validate_party_id_rejects_non_string() -> None:
    with pytest.raises(ValueError, match="must be a string"):
        validate_party_id(7)  # type: ignore[arg-type]


def test_validate_party_id_message_escapes_lookalike() -> None:
    with pytest.raises(ValueError) as info:
        validate_party_id("\u0430lice")
    assert "\\u0430lice" in str(info.value)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:50051", ("127.0.0.1", 50051)),
        ("localhost:0", ("localhost", 0)),
        ("[::1]:65535", ("::1", 65535)),
        ("party-1.example.org:443", ("party-1.example.org", 443)),
    ],
)
def test_split_address_accepts_valid(
    address: str, expected: tuple[str, int]
) -> None:
    assert split_address(address) == expected


@pytest.mark.parametrize(
    "address",
    [
        "localhost",
        ":50051",
        "localhost:",
        "localhost:65536",
        "localhost:-1",
        "localhost:abc",
        "localhost:\uff15",  # full-width digit 5
        "localhost:000001",
        "::1:50051",
        "[::zz]:50051",
        "local host:5",
        "-host:5",
    ],
)
def test_split_address_rejects_invalid(address: str) -> None:
    with pytest.raises(ValueError, match="invalid address"):
        split_address(address)


# load_party_config


def test_load_party_config_reads_all_fields(setup: Path) -> None:
    config = load_party_config(setup / "party.toml")

    assert config.party_id == "alice"
    assert config.listen == "127.0.0.1:0"
    assert config.state_dir == setup / "state"
    assert config.key_path == setup / "certs" / "alice.key"
    assert config.certificate_path == setup / "certs" / "alice.crt"
    assert config.deployment_path == setup / "deployment.toml"
    assert config.phase_timeout == 12.5
    assert config.proof_workers == 3
    assert config.log_format == "json"
    assert config.source == setup / "party.toml"
    adult = config.datasets["adult"]
    assert adult.path == setup / "data" / "adult.csv.gz"
    assert adult.format == "csv"
    assert adult.missing == "reject"
    visits = config.datasets["visits"]
    assert visits.format == "parquet"
    assert visits.missing == "drop"
    assert config.policy.initiators == ("alice", "bob")
    assert config.policy.max_epsilon == {"adult": 5.0, "visits": 1.0}
    assert config.policy.max_delta == {
        "adult": 1e-6,
        "visits": DEFAULT_MAX_DELTA,
    }


def test_load_party_config_applies_defaults(setup: Path) -> None:
    write_party(
        setup,
        phase_timeout=None,
        proof_workers=None,
        log_format=None,
        datasets=None,
        policy=None,
    )
    config = load_party_config(setup / "party.toml")

    assert config.phase_timeout == 30.0
    assert config.proof_workers >= 1
    assert config.log_format == "text"
    assert config.datasets == {}
    assert config.policy == Policy((), {}, {})


def test_load_party_config_accepts_relative_path(
    setup: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(setup)
    config = load_party_config("party.toml")
    assert config.key_path == setup / "certs" / "alice.key"


def test_load_party_config_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        load_party_config(path)


def test_load_party_config_invalid_toml(setup: Path) -> None:
    path = write_raw(setup / "party.toml", 'party_id = "alice\n')
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_party_config(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "key",
    ["party_id", "listen", "state_dir", "key", "certificate", "deployment"],
)
def test_load_party_config_missing_key(setup: Path, key: str) -> None:
    text = (setup / "party.toml").read_text()
    kept = [line for line in text.splitlines() if not line.startswith(key)]
    path = write_raw(setup / "party.toml", "\n".join(kept))
    with pytest.raises(ConfigError, match=f"missing key '{key}'"):
        load_party_config(path)


def test_load_party_config_unknown_key(setup: Path) -> None:
    text = (setup / "party.toml").read_text()
    path = write_raw(setup / "party.toml", "phase_timout = 3\n" + text)
    with pytest.raises(ConfigError, match="unknown key 'phase_timout'"):
        load_party_config(path)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("party_id", "Alice", "invalid party id"),
        ("party_id", "\u0430lice", "invalid party id"),
        ("listen", "127.0.0.1", "invalid address"),
        ("listen", "127.0.0.1:70000", "invalid address"),
        ("listen", 50051, "non-empty string"),
        ("phase_timeout", 0, "greater than 0"),
        ("phase_timeout", -1.0, "greater than 0"),
        ("phase_timeout", "30", "greater than 0"),
        ("phase_timeout", True, "greater than 0"),
        ("proof_workers", 0, "at least 1"),
        ("proof_workers", 1.5, "at least 1"),
        ("proof_workers", True, "at least 1"),
        ("log_format", "xml", "use one of text, json"),
        ("state_dir", "", "non-empty string"),
    ],
)
def test_load_party_config_invalid_value(
    setup: Path, key: str, value: Any, message: str
) -> None:
    path = write_party_unchecked(setup, **{key: value})
    with pytest.raises(ConfigError, match=message) as info:
        load_party_config(path)
    assert f"key '{key}'" in str(info.value)
    assert str(path) in str(info.value)


def test_load_party_config_infinite_timeout(setup: Path) -> None:
    text = (setup / "party.toml").read_text()
    text = re.sub(r"phase_timeout = .*", "phase_timeout = inf", text)
    path = write_raw(setup / "party.toml", text)
    with pytest.raises(ConfigError, match="phase_timeout"):
        load_party_config(path)


def test_load_party_config_own_id_not_in_deployment(setup: Path) -> None:
    write_deployment_entries(
        setup,
        {"bob": {"address": "127.0.0.1:1", "certificate": "certs/bob.crt"}},
    )
    path = write_party(setup, policy=None)
    with pytest.raises(ConfigError, match="'alice'.*not listed"):
        load_party_config(path)


def test_load_party_config_missing_deployment(setup: Path) -> None:
    path = write_party(setup, deployment="elsewhere.toml")
    with pytest.raises(ConfigError, match="elsewhere.toml not found"):
        load_party_config(path)


def test_load_party_config_missing_key_file(setup: Path) -> None:
    path = write_party(setup, key="certs/none.key")
    with pytest.raises(ConfigError, match="none.key.*not found"):
        load_party_config(path)


def test_load_party_config_missing_certificate_file(setup: Path) -> None:
    path = write_party(setup, certificate="certs/none.crt")
    with pytest.raises(ConfigError, match="none.crt.*not found"):
        load_party_config(path)


def test_load_party_config_key_not_pem(setup: Path) -> None:
    write_raw(setup / "certs" / "alice.key", "not a key")
    with pytest.raises(ConfigError, match="not an unencrypted PEM"):
        load_party_config(setup / "party.toml")


def test_load_party_config_key_of_other_party(setup: Path) -> None:
    path = write_party(setup, key="certs/bob.key")
    with pytest.raises(ConfigError, match="does not match certificate"):
        load_party_config(path)


def test_load_party_config_key_not_p256(setup: Path) -> None:
    make_identity(
        setup / "other", "alice", "alice", ["alice"], ec.SECP384R1()
    )
    path = write_party(setup, key="other/alice.key")
    with pytest.raises(ConfigError, match="not an EC P-256 key"):
        load_party_config(path)


def test_load_party_config_certificate_not_pinned(setup: Path) -> None:
    make_identity(setup / "other", "alice", "alice", ["alice"])
    path = write_party(
        setup, key="other/alice.key", certificate="other/alice.crt"
    )
    with pytest.raises(ConfigError, match="differs from the certificate"):
        load_party_config(path)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a.csv", "csv"),
        ("a.CSV", "csv"),
        ("a.csv.gz", "csv"),
        ("a.parquet", "parquet"),
        ("a.pq", "parquet"),
    ],
)
def test_load_party_config_infers_dataset_format(
    setup: Path, path: str, expected: str
) -> None:
    config_path = write_party(
        setup, datasets={"d": {"path": path}}, policy=None
    )
    config = load_party_config(config_path)
    assert config.datasets["d"].format == expected


def test_load_party_config_explicit_dataset_format(setup: Path) -> None:
    config_path = write_party(
        setup,
        datasets={"d": {"path": "export.txt", "format": "csv"}},
        policy=None,
    )
    assert load_party_config(config_path).datasets["d"].format == "csv"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"path": "export.txt"}, "cannot be inferred"),
        ({"path": "a.csv", "format": "json"}, "use one of csv, parquet"),
        ({"path": "a.csv", "missing": "skip"}, "use one of drop, reject"),
        ({"format": "csv"}, "missing key 'datasets.d.path'"),
        ({"path": ""}, "non-empty string"),
        ({"path": "a.csv", "sep": ";"}, "unknown key 'datasets.d.sep'"),
    ],
)
def test_load_party_config_invalid_dataset(
    setup: Path, entry: dict[str, str], message: str
) -> None:
    path = write_party(setup, datasets={"d": entry}, policy=None)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_party_config(path)


def test_load_party_config_invalid_dataset_name(setup: Path) -> None:
    path = write_party(
        setup, datasets={"a b": {"path": "a.csv"}}, policy=None
    )
    with pytest.raises(ConfigError, match="invalid dataset name"):
        load_party_config(path)


def test_load_party_config_datasets_not_table(setup: Path) -> None:
    text = (setup / "party.toml").read_text()
    text = 'datasets = "adult"\n' + text.split("\n[datasets")[0]
    path = write_raw(setup / "party.toml", text)
    with pytest.raises(ConfigError, match="must be a table"):
        load_party_config(path)


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"initiators": ["*", "bob"]}, "must be the only element"),
        ({"initiators": ["dave"]}, "'dave' is not listed in the deploy"),
        ({"initiators": ["Bob"]}, "invalid party id"),
        ({"initiators": "bob"}, "list of party ids"),
        ({"initiators": ["bob", "bob"]}, "repeated party ids"),
        ({"max_epsilon": {"census": 1.0}}, "'census' is not defined"),
        ({"max_epsilon": {"adult": -1.0}}, "at least 0"),
        ({"max_epsilon": {"adult": "1"}}, "must be a number"),
        ({"max_epsilon": {"adult": True}}, "must be a number"),
        (
            {"max_epsilon": {"adult": 1.0}, "max_delta": {"adult": 1.0}},
            "below 1",
        ),
        (
            {"max_epsilon": {"adult": 1.0}, "max_delta": {"adult": -1e-9}},
            "at least 0",
        ),
        (
            {"max_epsilon": {"adult": 1.0}, "max_delta": {"visits": 1e-9}},
            "no entry in policy.max_epsilon",
        ),
        ({"max_spend": {}}, "unknown key 'policy.max_spend'"),
    ],
)
def test_load_party_config_invalid_policy(
    setup: Path, policy: dict[str, Any], message: str
) -> None:
    path = write_party(setup, policy=policy_with(**policy))
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_party_config(path)


def test_load_party_config_infinite_epsilon_cap(setup: Path) -> None:
    text = (setup / "party.toml").read_text()
    text = text.replace("adult = 5.0", "adult = inf")
    path = write_raw(setup / "party.toml", text)
    with pytest.raises(ConfigError, match="finite"):
        load_party_config(path)


def test_policy_allows_initiator_listed(setup: Path) -> None:
    config = load_party_config(setup / "party.toml")
    deployment = load_deployment(config.deployment_path)

    assert config.policy.allows_initiator("bob", deployment)
    assert config.policy.allows_initiator("alice", deployment)
    assert not config.policy.allows_initiator("carol", deployment)
    assert not config.policy.allows_initiator("dave", deployment)


def test_policy_allows_initiator_star(setup: Path) -> None:
    path = write_party(setup, policy={"initiators": ["*"]})
    config = load_party_config(path)
    deployment = load_deployment(config.deployment_path)

    for party_id in PARTIES:
        assert config.policy.allows_initiator(party_id, deployment)
    assert not config.policy.allows_initiator("dave", deployment)
    assert not config.policy.allows_initiator("*", deployment)


# load_deployment


def test_load_deployment_reads_parties(setup: Path) -> None:
    deployment = load_deployment(setup / "deployment.toml")

    assert sorted(deployment.parties) == sorted(PARTIES)
    bob = deployment.peer("bob")
    assert bob == PeerInfo(
        "bob", "127.0.0.1:50052", (setup / "certs" / "bob.crt").read_bytes()
    )
    assert deployment.source == setup / "deployment.toml"


def test_deployment_peer_unknown_party(setup: Path) -> None:
    deployment = load_deployment(setup / "deployment.toml")
    with pytest.raises(ConfigError, match="'dave' is not listed"):
        deployment.peer("dave")


def test_deployment_peer_error_is_value_error() -> None:
    deployment = Deployment({}, Path("deployment.toml"))
    with pytest.raises(ValueError):
        deployment.peer("alice")


def test_load_deployment_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "deployment.toml"
    with pytest.raises(ConfigError, match=re.escape(f"{path} not found")):
        load_deployment(path)


def test_load_deployment_no_parties(tmp_path: Path) -> None:
    path = write_raw(tmp_path / "deployment.toml", "[parties]\n")
    with pytest.raises(ConfigError, match="lists no parties"):
        load_deployment(path)


def test_load_deployment_unknown_key(setup: Path) -> None:
    path = setup / "deployment.toml"
    write_raw(path, "ca = 'x'\n" + path.read_text())
    with pytest.raises(ConfigError, match="unknown key 'ca'"):
        load_deployment(path)


def test_load_deployment_missing_address(setup: Path) -> None:
    path = write_raw(
        setup / "deployment.toml",
        '[parties.bob]\ncertificate = "certs/bob.crt"\n',
    )
    with pytest.raises(ConfigError, match="missing key 'parties.bob.addr"):
        load_deployment(path)


def test_load_deployment_invalid_address(setup: Path) -> None:
    path = write_raw(
        setup / "deployment.toml",
        '[parties.bob]\naddress = "127.0.0.1:99999"\n'
        'certificate = "certs/bob.crt"\n',
    )
    with pytest.raises(ConfigError, match="parties.bob.address"):
        load_deployment(path)


def test_load_deployment_invalid_party_id(setup: Path) -> None:
    path = write_raw(
        setup / "deployment.toml",
        '[parties.Bob]\naddress = "127.0.0.1:1"\n'
        'certificate = "certs/bob.crt"\n',
    )
    with pytest.raises(ConfigError, match="invalid party id 'Bob'"):
        load_deployment(path)


def test_load_deployment_duplicate_address(setup: Path) -> None:
    path = write_deployment_entries(
        setup,
        {
            "alice": {"address": "127.0.0.1:7", "certificate": ALICE_CRT},
            "bob": {"address": "127.0.0.1:7", "certificate": BOB_CRT},
        },
    )
    with pytest.raises(ConfigError, match="'alice' and 'bob'.*same address"):
        load_deployment(path)


def test_load_deployment_port_zero_not_duplicate(setup: Path) -> None:
    path = write_deployment_entries(
        setup,
        {
            "alice": {"address": "127.0.0.1:0", "certificate": ALICE_CRT},
            "bob": {"address": "127.0.0.1:0", "certificate": BOB_CRT},
        },
    )
    assert sorted(load_deployment(path).parties) == ["alice", "bob"]


def test_load_deployment_missing_certificate(setup: Path) -> None:
    (setup / "certs" / "bob.crt").unlink()
    with pytest.raises(ConfigError, match="bob.crt.*not found"):
        load_deployment(setup / "deployment.toml")


def test_load_deployment_empty_certificate(setup: Path) -> None:
    write_raw(setup / "certs" / "bob.crt", "\n")
    with pytest.raises(ConfigError, match="bob.crt.*is empty"):
        load_deployment(setup / "deployment.toml")


def test_load_deployment_certificate_not_pem(setup: Path) -> None:
    write_raw(setup / "certs" / "bob.crt", "hello\n")
    with pytest.raises(ConfigError, match="not a PEM X.509 certificate"):
        load_deployment(setup / "deployment.toml")


def test_load_deployment_certificate_is_key(setup: Path) -> None:
    key_pem = (setup / "certs" / "bob.key").read_bytes()
    (setup / "certs" / "bob.crt").write_bytes(key_pem)
    with pytest.raises(ConfigError, match="not a PEM X.509 certificate"):
        load_deployment(setup / "deployment.toml")


def test_load_deployment_two_certificates(setup: Path) -> None:
    certs = setup / "certs"
    both = (certs / "bob.crt").read_bytes()
    both += (certs / "carol.crt").read_bytes()
    (certs / "bob.crt").write_bytes(both)
    with pytest.raises(ConfigError, match="contains 2 certificates"):
        load_deployment(setup / "deployment.toml")


def test_load_deployment_certificate_of_other_party(setup: Path) -> None:
    path = write_deployment_entries(
        setup,
        {"bob": {"address": "127.0.0.1:1", "certificate": "certs/carol.crt"}},
    )
    with pytest.raises(ConfigError) as info:
        load_deployment(path)
    message = str(info.value)
    assert "party 'bob'" in message
    assert "common name is 'carol'" in message


def test_load_deployment_certificate_lookalike_name(setup: Path) -> None:
    make_identity(setup / "certs", "fake", "b\u043eb", ["bob"])
    path = write_deployment_entries(
        setup,
        {"bob": {"address": "127.0.0.1:1", "certificate": "certs/fake.crt"}},
    )
    with pytest.raises(ConfigError, match="common name"):
        load_deployment(path)


def test_load_deployment_certificate_san_mismatch(setup: Path) -> None:
    make_identity(setup / "certs", "san", None, ["carol"])
    path = write_deployment_entries(
        setup,
        {"bob": {"address": "127.0.0.1:1", "certificate": "certs/san.crt"}},
    )
    with pytest.raises(ConfigError, match="'bob'.*alternative names"):
        load_deployment(path)


def test_load_deployment_certificate_san_only(setup: Path) -> None:
    make_identity(setup / "certs", "san", None, ["bob"])
    path = write_deployment_entries(
        setup,
        {"bob": {"address": "127.0.0.1:1", "certificate": "certs/san.crt"}},
    )
    assert list(load_deployment(path).parties) == ["bob"]


def test_load_deployment_certificate_without_names(setup: Path) -> None:
    make_identity(setup / "certs", "anon", None, None)
    path = write_deployment_entries(
        setup,
        {"bob": {"address": "127.0.0.1:1", "certificate": "certs/anon.crt"}},
    )
    with pytest.raises(ConfigError, match="names no party"):
        load_deployment(path)


def test_load_deployment_certificate_names_two_parties(setup: Path) -> None:
    make_identity(setup / "certs", "both", "bob", ["bob", "carol"])
    path = write_deployment_entries(
        setup,
        {
            "bob": {"address": "127.0.0.1:1", "certificate": "certs/both.crt"},
            "carol": {
                "address": "127.0.0.1:2",
                "certificate": "certs/carol.crt",
            },
        },
    )
    with pytest.raises(ConfigError, match="also names party 'carol'"):
        load_deployment(path)


def test_load_deployment_certificate_not_p256(setup: Path) -> None:
    make_identity(setup / "certs", "big", "bob", ["bob"], ec.SECP384R1())
    path = write_deployment_entries(
        setup,
        {"bob": {"address": "127.0.0.1:1", "certificate": "certs/big.crt"}},
    )
    with pytest.raises(ConfigError, match="not EC P-256"):
        load_deployment(path)


# Writers


def test_write_party_config_round_trip(setup: Path) -> None:
    text = (setup / "party.toml").read_text()
    assert tomllib.loads(text) == party_fields()


def test_write_party_config_accepts_paths(tmp_path: Path) -> None:
    fields = party_fields(state_dir=Path("state"), key=Path("a b/k.key"))
    path = write_party_config(tmp_path / "sub" / "party.toml", **fields)
    data = tomllib.loads(path.read_text())
    assert data["state_dir"] == "state"
    assert data["key"] == "a b/k.key"
    assert not (tmp_path / "sub" / "party.toml.tmp").exists()


def test_write_party_config_unknown_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown party config key 'port'"):
        write_party_config(tmp_path / "p.toml", **party_fields(port=1))


def test_write_party_config_missing_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing key 'listen'"):
        write_party_config(tmp_path / "p.toml", **party_fields(listen=None))


def test_write_party_config_invalid_party_id(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid party id"):
        write_party_config(
            tmp_path / "p.toml", **party_fields(party_id="\u0430lice")
        )


def test_write_deployment_missing_certificate(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'bob' has no certificate"):
        write_deployment(
            tmp_path / "d.toml", {"bob": {"address": "127.0.0.1:1"}}
        )


def test_write_deployment_invalid_address(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid address"):
        write_deployment(
            tmp_path / "d.toml",
            {"bob": {"address": "bob", "certificate": "bob.crt"}},
        )


def test_dumps_toml_escapes_strings() -> None:
    tricky = 'quote " backslash \\ newline \n tab \t bell \x07 del \x7f é'
    document = {
        "text": tricky,
        "list": ["a", 'b"', 1, 2.5, True],
        "table": {"my.dataset": {"path": "C:\\data\\x.csv"}, "n": 1e-5},
        "empty": {},
    }
    assert tomllib.loads(dumps_toml(document)) == document


def test_dumps_toml_rejects_nan() -> None:
    with pytest.raises(ValueError, match="nan"):
        dumps_toml({"x": math.nan})


def test_dumps_toml_rejects_unknown_type() -> None:
    with pytest.raises(TypeError, match="bytes"):
        dumps_toml({"x": b"raw"})
