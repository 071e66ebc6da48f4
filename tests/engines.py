"""`make test`: the suite on SQLite, then again on PostgreSQL (a throw-away server from
tests/pgserver.py, stopped after). Arguments are passed to both pytest runs.

KAKATONG_TEST_ENGINES=sqlite runs only the first (a machine without PostgreSQL: `apt-get
install postgresql` gives it). On PostgreSQL, conftest.py leaves out what is the SQLite file's
own and what no engine changes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pgserver

HERE = Path(__file__).resolve().parent


def pytest(args: list[str], env: dict[str, str]) -> int:
    started = time.monotonic()
    code = subprocess.call([sys.executable, "-m", "pytest", "-q", *args], env=env, cwd=HERE.parent)
    engine = "PostgreSQL" if env.get("KAKATONG_TEST_POSTGRES") else "SQLite"
    print(f"== {engine}: pytest exited {code} in {time.monotonic() - started:.0f} s", flush=True)
    return code


def main(args: list[str]) -> int:
    engines = os.environ.get("KAKATONG_TEST_ENGINES", "sqlite postgresql").split()
    env = {k: v for k, v in os.environ.items() if k != "KAKATONG_TEST_POSTGRES"}
    codes = []
    if "sqlite" in engines:
        codes.append(pytest(args, env))
    if "postgresql" in engines:
        if pgserver.binaries() is None:
            print(
                "PostgreSQL is not installed: the suite's PostgreSQL run needs it "
                "(apt-get install postgresql), or set KAKATONG_TEST_ENGINES=sqlite",
                file=sys.stderr,
            )
            return 1
        with tempfile.TemporaryDirectory(prefix="kakatong-pg-") as directory:
            url = pgserver.start(Path(directory))
            try:
                codes.append(pytest(args, {**env, "KAKATONG_TEST_POSTGRES": url}))
            finally:
                pgserver.stop(Path(directory))
    return next((code for code in codes if code), 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
