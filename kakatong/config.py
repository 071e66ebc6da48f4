"""Configuration: the KAKATONG_* environment variables, read once into one Config.

Every variable is listed in the README's configuration table; a test checks the two agree.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ROOT = Path(__file__).resolve().parent.parent


def _bool(text: str) -> bool:
    return text.strip().lower() not in ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class Config:
    """What the process needs to know before it opens the database."""

    data_dir: Path = field(default=ROOT / "data", metadata={"env": "KAKATONG_DATA_DIR"})
    host: str = field(default="0.0.0.0", metadata={"env": "KAKATONG_HOST"})
    port: int = field(default=8000, metadata={"env": "KAKATONG_PORT"})
    # HTTPS for the shop's network (tls.py, serve.py): on unless a shop's own proxy does it.
    tls: bool = field(default=True, metadata={"env": "KAKATONG_TLS"})
    https_port: int = field(default=8443, metadata={"env": "KAKATONG_HTTPS_PORT"})
    # More names or addresses for the server's certificate, comma-separated (the host's LAN
    # address when a container's ports are mapped, a name the shop's router gives the box).
    tls_names: str = field(default="", metadata={"env": "KAKATONG_TLS_NAMES"})
    tz: str = field(default="Asia/Shanghai", metadata={"env": "KAKATONG_TZ"})
    demo: bool = field(default=True, metadata={"env": "KAKATONG_DEMO"})
    threads: int = field(default=16, metadata={"env": "KAKATONG_THREADS"})
    # The card reader (刷卡器): a device path or pyserial URL; empty: no reader.
    msr: str = field(default="", metadata={"env": "KAKATONG_MSR"})
    msr_baud: int = field(default=9600, metadata={"env": "KAKATONG_MSR_BAUD"})
    # The terminal whose page gets the swipes; empty: the shop's one POS terminal.
    msr_terminal: str = field(default="", metadata={"env": "KAKATONG_MSR_TERMINAL"})
    # The log on stdout (logs.py): logfmt, json or text, and the lowest level written.
    log_format: str = field(default="logfmt", metadata={"env": "KAKATONG_LOG_FORMAT"})
    log_level: str = field(default="INFO", metadata={"env": "KAKATONG_LOG_LEVEL"})
    # The second place for backups (a USB stick or a NAS share mounted on the host): every
    # backup of data/backups is copied there too; empty: none, and the back office warns.
    backup_dir: str = field(default="", metadata={"env": "KAKATONG_BACKUP_DIR"})
    # A chain's PostgreSQL (postgresql://user:pass@host:5432/dbname), shared by every branch's
    # processes; empty: the shop's own SQLite file in the data directory.
    database_url: str = field(default="", metadata={"env": "KAKATONG_DATABASE_URL"})

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Config:
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            name = f.metadata["env"]
            if f.name in overrides:
                values[f.name] = overrides[f.name]
            elif name in environ:
                raw = environ[name]
                if f.type in ("int", int):
                    values[f.name] = int(raw)
                elif f.type in ("bool", bool):
                    values[f.name] = _bool(raw)
                elif f.type in ("Path", Path):
                    values[f.name] = Path(raw)
                else:
                    values[f.name] = raw
        config = cls(**values)
        config.zone  # noqa: B018  (an unknown zone fails at start, not at the first transaction)
        return config

    @property
    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"KAKATONG_TZ: unknown time zone {self.tz!r}") from exc

    @property
    def database_path(self) -> Path:
        return Path(self.data_dir) / "kakatong.sqlite3"

    @property
    def on_postgres(self) -> bool:
        return bool(self.database_url.strip())

    @property
    def database(self) -> Path | str:
        """What open_database opens: the chain's URL, or the shop's SQLite file."""
        return self.database_url.strip() if self.on_postgres else self.database_path

    @property
    def backups_path(self) -> Path:
        return Path(self.data_dir) / "backups"

    @property
    def second_backups_path(self) -> Path | None:
        return Path(self.backup_dir) if self.backup_dir.strip() else None

    def secret(self, name: str, nbytes: int = 32) -> bytes:
        """A random secret kept in a file of the data dir, made on first use.

        The Flask secret key and the PIN pepper live here, outside the SQLite file, so that a
        copy of the database alone does not reveal the PINs.
        """
        text = self._kept(name, lambda: secrets.token_hex(nbytes).encode())
        return bytes.fromhex(text.decode().strip())

    def sealing_key(self, name: str = "offline_seal.pem") -> bytes:
        """The private key (PEM) that opens the PINs a terminal seals offline (offline.py),
        made on first use. Its public half is what the terminals seal to."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        def make() -> bytes:
            key = ec.generate_private_key(ec.SECP256R1())
            return key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )

        return self._kept(name, make)

    def _kept(self, name: str, make) -> bytes:
        path = Path(self.data_dir) / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written beside and linked into place, so no process ever reads half a secret and
            # two processes starting at once agree on one.
            tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(make())
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
        return path.read_bytes()


def documented_variables() -> list[str]:
    return [f.metadata["env"] for f in fields(Config)]
