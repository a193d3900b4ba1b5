"""Party identities: EC P-256 keys and pinned, self-signed certificates.

Each party has one key pair and one self-signed X.509 certificate whose
subject common name and DNS subject alternative name are the party id. The
deployment file pins every party's certificate, and each pinned
certificate is its own trust anchor. So TLS accepts a peer whose chain
ends in one of the pinned certificates. `parties.transport` then requires
the peer's certificate to have the SHA-256 fingerprint of the certificate
pinned for the party id it claims.

The certificate is not a CA certificate (basicConstraints CA=False, no
keyCertSign). gRPC's TLS (BoringSSL, checked with grpcio 1.85) still
accepts a self-signed end-entity certificate as its own trust anchor,
and a non-CA anchor cannot issue certificates. A certificate that a party
signs with its key for another party's name therefore fails the TLS
handshake, and the fingerprint check in `parties.transport` rejects it
even where a deployment pins a CA-capable certificate.

Signatures over protocol messages are ECDSA P-256 with SHA-256, DER
encoded, made with the same key as the TLS identity.
"""

from __future__ import annotations

import datetime
import hashlib
import os
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mpc import spec

DEFAULT_VALID_DAYS = 825

# Certificates are valid from a little before their creation, so a peer
# whose clock runs behind still accepts them.
_CLOCK_SKEW = datetime.timedelta(minutes=5)


def check_party_id(party_id: str) -> None:
    """Raise ValueError unless `party_id` is a valid party id.

    A party id becomes the DNS name in the certificate and the TLS host
    name that clients check, so mpc.spec allows only one lower-case DNS
    label.
    """
    try:
        spec.check_party_id(party_id)
    except spec.SpecError as exc:
        raise ValueError(str(exc)) from None


def create_identity(
    party_id: str, directory: Path, valid_days: int = DEFAULT_VALID_DAYS
) -> tuple[Path, Path]:
    """Create a party's key and self-signed certificate in `directory`.

    Writes `<party_id>.key` (PEM, PKCS #8, unencrypted, mode 0600) and
    `<party_id>.crt` (PEM) and returns their paths in that order. Raises
    FileExistsError, before writing anything, when either file exists.
    """
    check_party_id(party_id)
    if valid_days < 1:
        raise ValueError(f"valid_days must be at least 1, got {valid_days}")
    directory = Path(directory)
    key_path = directory / f"{party_id}.key"
    cert_path = directory / f"{party_id}.crt"
    for path in (key_path, cert_path):
        if path.exists():
            raise FileExistsError(f"{path} exists; it will not be replaced")

    key = ec.generate_private_key(ec.SECP256R1())
    cert = _self_signed_certificate(party_id, key, valid_days)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)

    # The key file is created with mode 0600 from the start, never widened.
    directory.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    fd = os.open(key_path, flags, 0o600)
    with os.fdopen(fd, "wb") as key_file:
        key_file.write(key_pem)
    try:
        fd = os.open(cert_path, flags, 0o644)
        with os.fdopen(fd, "wb") as cert_file:
            cert_file.write(cert_pem)
    except BaseException:
        key_path.unlink()
        raise
    return key_path, cert_path


def _self_signed_certificate(
    party_id: str, key: ec.EllipticCurvePrivateKey, valid_days: int
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, party_id)])
    now = datetime.datetime.now(datetime.UTC)
    public_key = key.public_key()
    key_id = x509.SubjectKeyIdentifier.from_public_key(public_key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + datetime.timedelta(days=valid_days))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(party_id)]),
            critical=False,
        )
        .add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [
                    ExtendedKeyUsageOID.SERVER_AUTH,
                    ExtendedKeyUsageOID.CLIENT_AUTH,
                ]
            ),
            critical=False,
        )
        .add_extension(key_id, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                key_id
            ),
            critical=False,
        )
    )
    return builder.sign(key, hashes.SHA256())


def certificate_party_id(cert_pem: bytes) -> str:
    """Return the common name of the certificate's subject.

    Raises ValueError when the certificate has no common name.
    """
    cert = x509.load_pem_x509_certificate(cert_pem)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        raise ValueError("certificate subject has no common name")
    value = names[0].value
    return value if isinstance(value, str) else value.decode("utf-8")


def fingerprint(cert_pem: bytes) -> str:
    """Return the SHA-256 digest of the certificate's DER encoding, in hex."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    der = cert.public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def load_private_key(path: Path | str) -> ec.EllipticCurvePrivateKey:
    """Load an unencrypted PEM private key, which must be EC P-256."""
    key = serialization.load_pem_private_key(
        Path(path).read_bytes(), password=None
    )
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
        key.curve, ec.SECP256R1
    ):
        raise ValueError(f"{path} is not an EC P-256 private key")
    return key


def load_private_key_pem(key_pem: bytes) -> ec.EllipticCurvePrivateKey:
    """Parse an unencrypted PEM private key, which must be EC P-256."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
        key.curve, ec.SECP256R1
    ):
        raise ValueError("private key is not an EC P-256 key")
    return key


def sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """Sign `data` with ECDSA P-256 and SHA-256; return the DER signature."""
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def verify(cert_pem: bytes, data: bytes, signature: bytes) -> bool:
    """Return whether `signature` on `data` verifies with the cert's key.

    Returns False for a wrong or malformed signature and for a certificate
    whose key is not EC P-256. Raises ValueError for a malformed
    certificate.
    """
    public_key = x509.load_pem_x509_certificate(cert_pem).public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not (
        isinstance(public_key.curve, ec.SECP256R1)
    ):
        return False
    try:
        public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True
