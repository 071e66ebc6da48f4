"""HTTPS on the shop's network: the shop's own certificate authority and the server's certificate.

On first start with TLS on, the appliance makes a certificate authority of its own (an ECDSA
P-256 key, valid 20 years) and keeps it in `data/tls/`: `ca.key` (mode 0600: it never leaves the
box, and nothing serves it), `ca.crt` (what each device trusts once, downloaded from `/ca.crt`).
With it, it issues the server's certificate (`server.key`, `server.crt`), naming every address
and name a device may use to reach the box: its LAN addresses, its host name (and `.local`),
`localhost`, 127.0.0.1 and whatever `KAKATONG_TLS_NAMES` adds (the address a port-mapped
container's host has, a name the shop's router gives). The server's certificate lasts 397 days
(what every browser accepts of a private CA) and is issued anew by itself when a name is
missing (the box got a new address) or 30 days before it expires; `Certificates.watch` looks
every few minutes and hands a new one to the running server, for the next connection.

The glue's, beside the server (serve.py): the domain knows nothing of TLS.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .config import Config
from .welcome import WILDCARDS, lan_addresses

log = logging.getLogger("kakatong.tls")

CA_DAYS = 20 * 365
SERVER_DAYS = 397  # Apple's and Chromium's limit for a server certificate (since 2020)
RENEW_BEFORE = dt.timedelta(days=30)
WATCH_SECONDS = 300  # how often a running server looks at its addresses and its certificate


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Written beside and renamed into place: a crash never leaves half a key."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def shop_names(config: Config) -> list[str]:
    """Every name and address the server's certificate must carry, in a stable order."""
    names: list[str] = []
    if config.host in WILDCARDS:
        names += lan_addresses()
        host = socket.gethostname().strip().lower()
        if host and host != "localhost":
            names += [host, f"{host}.local"] if "." not in host else [host]
    else:
        names.append(config.host)
    names += [n.strip() for n in config.tls_names.split(",") if n.strip()]
    names += ["localhost", "127.0.0.1"]
    out: list[str] = []
    for name in names:
        if name.lower() not in (n.lower() for n in out):
            out.append(name)
    return out


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name.lower())


def names_in(cert: x509.Certificate) -> set[str]:
    """The names a certificate carries (addresses as text, host names in lower case)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return ips | {d.lower() for d in san.get_values_for_type(x509.DNSName)}


def _wanted(names: Iterable[str]) -> set[str]:
    return {str(_general_name(n).value) for n in names}


def _key_usage(*, authority: bool) -> x509.KeyUsage:
    """Signatures (ECDSA: the handshake's), and certificates too for the authority."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=authority,
        crl_sign=authority,
        encipher_only=False,
        decipher_only=False,
    )


def issue_authority(
    shop: str, now: dt.datetime
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, shop),
            # Unique per box, so two shops' authorities never look alike in a device's list.
            x509.NameAttribute(
                NameOID.COMMON_NAME, f"{shop} 本店证书 {os.urandom(4).hex().upper()}"
            ),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(authority=True), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue_server(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    names: list[str],
    now: dt.datetime,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(authority=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def renewal_reason(cert: x509.Certificate, names: Iterable[str], now: dt.datetime) -> str | None:
    """Why the server's certificate must be issued anew, or None while it serves."""
    missing = _wanted(names) - names_in(cert)
    if missing:
        return "it does not name " + ", ".join(sorted(missing))
    if cert.not_valid_after_utc - now < RENEW_BEFORE:
        return f"it expires on {cert.not_valid_after_utc:%Y-%m-%d}"
    return None


@dataclass(frozen=True)
class ServerCertificate:
    names: tuple[str, ...]
    not_after: dt.datetime


class Certificates:
    """The files in `directory` (data/tls), kept current, and the server's TLS context.

    `names` is asked for what the certificate must carry each time it is checked (the box's
    addresses change when it moves to another network); `clock` says what time it is."""

    def __init__(
        self,
        directory: Path,
        names: Callable[[], list[str]],
        *,
        shop: str = "卡卡通",
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.directory = Path(directory)
        self.names = names
        self.shop = shop
        self.clock = clock
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None
        self._stop = threading.Event()

    @property
    def ca_path(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def server_path(self) -> Path:
        return self.directory / "server.crt"

    def authority(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """The shop's CA, made on first use."""
        key_path = self.directory / "ca.key"
        if key_path.exists() and self.ca_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            return key, x509.load_pem_x509_certificate(self.ca_path.read_bytes())
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        key, cert = issue_authority(self.shop, self.clock())
        _write(key_path, _key_pem(key), 0o600)
        _write(self.ca_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        log.info("made the shop's certificate authority in %s", self.directory)
        return key, cert

    def server(self) -> x509.Certificate | None:
        if not self.server_path.exists() or not (self.directory / "server.key").exists():
            return None
        return x509.load_pem_x509_certificate(self.server_path.read_bytes())

    def check(self) -> str | None:
        """Issue the server's certificate anew where it must be (first start, a new address,
        close to expiry) and load it into the context; returns why it was issued, or None."""
        with self._lock:
            ca_key, ca_cert = self.authority()
            names = self.names()
            current = self.server()
            if current is not None and current.issuer != ca_cert.subject:
                reason = "it was not issued by this shop's authority"
            elif current is None:
                reason = "there was none"
            elif not self._key_matches(current):
                # A crash between writing the key and the certificate: issue both again.
                reason = "its key does not match it"
            else:
                reason = renewal_reason(current, names, self.clock())
            if reason is None:
                return None
            # Names it carried before stay (a tablet bookmarked the old address): the new one
            # adds; only a new authority starts the list afresh.
            kept = sorted(names_in(current) - _wanted(names)) if current is not None else []
            key, cert = issue_server(ca_key, ca_cert, [*names, *kept], self.clock())
            _write(self.directory / "server.key", _key_pem(key), 0o600)
            _write(self.server_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
            log.info(
                "issued the server's certificate (%s) for %s, valid until %s",
                reason,
                ", ".join([*names, *kept]),
                f"{cert.not_valid_after_utc:%Y-%m-%d}",
            )
            if self._context is not None:
                self._context = self._new_context()
            return reason

    def _key_matches(self, cert: x509.Certificate) -> bool:
        try:
            key = serialization.load_pem_private_key(
                (self.directory / "server.key").read_bytes(), password=None
            )
        except (OSError, ValueError):
            return False
        public = serialization.PublicFormat.SubjectPublicKeyInfo
        der = serialization.Encoding.DER
        return key.public_key().public_bytes(der, public) == cert.public_key().public_bytes(
            der, public
        )

    def _new_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.server_path, self.directory / "server.key")
        return context

    def context(self) -> ssl.SSLContext:
        """The server side's TLS context (TLS 1.2 and newer). A renewal makes a new one (a
        context in use by handshakes is never changed); the server asks for it at each
        connection, so the next one gets the new certificate."""
        if self._context is None:
            self.check()
            with self._lock:
                if self._context is None:
                    self._context = self._new_context()
        return self._context

    def info(self) -> ServerCertificate | None:
        cert = self.server()
        if cert is None:
            return None
        return ServerCertificate(tuple(sorted(names_in(cert))), cert.not_valid_after_utc)

    def watch(self, seconds: float = WATCH_SECONDS) -> threading.Thread:
        """A daemon thread that checks every `seconds` until stop()."""

        def run() -> None:
            while not self._stop.wait(seconds):
                try:
                    self.check()
                except Exception:  # a bad moment (disk full) must not end the watch
                    log.exception("checking the server's certificate failed")

        thread = threading.Thread(target=run, name="kakatong-tls-watch", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
