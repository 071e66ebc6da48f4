"""`make test`: the suite on SQLite and on PostgreSQL (a throw-away server from
tests/pgserver.py, stopped after), the two runs at once. Arguments are passed to both pytest
runs.

The two runs share nothing but the machine: each has its own temporary directories, and only
the PostgreSQL run uses the server. Each alone keeps about one core busy at most (a test waits
on its server, its browser or its database much of the time), so on two cores they finish
together in little more than the longer one's time, where one after the other took the sum.
Their output is interleaved line by line, each line marked with its engine; a line for
each at the end says how it ended and how long it took.

KAKATONG_TEST_ENGINES=sqlite runs only the first (a machine without PostgreSQL: `apt-get
install postgresql` gives it). KAKATONG_TEST_SERIAL=1 runs them one after the other (a test
that only fails when the machine is busy is a test to fix, but this tells which). On
PostgreSQL, conftest.py leaves out what is the SQLite file's own and what no engine changes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pgserver

HERE = Path(__file__).resolve().parent


class Run:
    """One engine's pytest, started now, its lines marked with the engine's name."""

    def __init__(self, engine: str, args: list[str], env: dict[str, str], lock: threading.Lock):
        self.engine = engine
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", *args],
            env=env, cwd=HERE.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.ended = self.started
        self.reader = threading.Thread(target=self._read, args=(lock,), daemon=True)
        self.reader.start()

    def _read(self, lock: threading.Lock) -> None:
        mark = f"[{self.engine}] ".encode()
        for line in self.process.stdout:
            with lock:
                sys.stdout.buffer.write(mark + line)
                sys.stdout.flush()
        self.process.wait()
        self.ended = time.monotonic()  # (the other run may still be going when it is asked)

    def wait(self) -> int:
        code = self.process.wait()
        self.reader.join()
        print(
            f"== {self.engine}: pytest exited {code} in {self.ended - self.started:.0f} s",
            flush=True,
        )
        return code


def main(args: list[str]) -> int:
    engines = os.environ.get("KAKATONG_TEST_ENGINES", "sqlite postgresql").split()
    serial = os.environ.get("KAKATONG_TEST_SERIAL") == "1"
    env = {k: v for k, v in os.environ.items() if k != "KAKATONG_TEST_POSTGRES"}
    if "postgresql" in engines and pgserver.binaries() is None:
        print(
            "PostgreSQL is not installed: the suite's PostgreSQL run needs it "
            "(apt-get install postgresql), or set KAKATONG_TEST_ENGINES=sqlite",
            file=sys.stderr,
        )
        return 1
    lock = threading.Lock()
    codes = []
    with tempfile.TemporaryDirectory(prefix="kakatong-pg-") as directory:
        url = pgserver.start(Path(directory)) if "postgresql" in engines else None
        try:
            runs = []
            if "sqlite" in engines:
                runs.append(Run("SQLite", args, env, lock))
                if serial:
                    codes.append(runs.pop().wait())
            if url is not None:
                runs.append(Run("PostgreSQL", args, {**env, "KAKATONG_TEST_POSTGRES": url}, lock))
            codes.extend(run.wait() for run in runs)
        finally:
            if url is not None:
                pgserver.stop(Path(directory))
    return next((code for code in codes if code), 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
