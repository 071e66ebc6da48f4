"""A throw-away PostgreSQL server for the tests and the bench: a new cluster in a temporary
directory on a free loopback port, from the machine's own PostgreSQL binaries (Debian keeps
them off PATH, in /usr/lib/postgresql/<version>/bin). initdb refuses root: as root, the cluster
is made and run as the `postgres` user.

    python tests/pgserver.py start DIR [--durable]   # prints the server's URL
    python tests/pgserver.py stop DIR

The tests' cluster trades durability for speed (fsync off): a crash of the machine loses a
throw-away database. The bench's keeps PostgreSQL's defaults, as a shop's server would.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

# What the tests' cluster sets beside the defaults: many connections (every server thread of
# every test keeps one), and no waiting on the disk.
FAST = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "400",
    "shared_buffers": "64MB",
}
DURABLE = {"max_connections": "200", "shared_buffers": "128MB"}


def binaries() -> Path | None:
    """The newest PostgreSQL's bin directory on this machine, or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _as_owner(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(directory: Path, durable: bool = False) -> str:
    """Make a cluster in `directory` and start it; returns its URL (no database named)."""
    bindir = binaries()
    if bindir is None:
        raise RuntimeError("no PostgreSQL here: apt-get install postgresql")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data = directory / "data"
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    subprocess.run(
        _as_owner([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                   "-E", "UTF8", "--locale=C", "--no-sync"]),
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    port = _free_port()
    options = {**(DURABLE if durable else FAST), "port": str(port)}
    options |= {"listen_addresses": "127.0.0.1", "unix_socket_directories": str(directory)}
    options |= {"log_min_messages": "warning", "logging_collector": "off"}
    flags = " ".join(f"-c {key}={value}" for key, value in options.items())
    subprocess.run(
        _as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(directory / "server.log"),
                   "-o", flags, "-w", "-t", "60", "start"]),
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    (directory / "port").write_text(str(port))
    return f"postgresql://postgres@127.0.0.1:{port}"


def stop(directory: Path) -> None:
    bindir = binaries()
    data = Path(directory) / "data"
    if bindir is None or not (data / "postmaster.pid").exists():
        return
    subprocess.run(
        _as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
        check=False, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("start", "stop"):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "start":
        print(start(Path(argv[1]), durable="--durable" in argv))
    else:
        stop(Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
