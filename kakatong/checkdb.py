"""`python -m kakatong.checkdb PATH [--upgrade]`: check a copy of the database, print JSON.

Run as a child process by the backups (store/backup.py) so that a long check holds neither
the server's interpreter nor its memory, and so that the ledger's `verify` runs on the copy
through the same models as on the live database. Checks, in order: SQLite's integrity and
foreign keys, that it is a Kakatong database and its schema version (with --upgrade an older
copy is brought to this software's schema first; the copy is changed), then `verify`. Prints
one line of JSON, the fields of store.backup.Check; exit status 0 when the copy is good.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from .domain import ledger
from .store.db import db, open_database
from .store.schema import SCHEMA_VERSION, upgrade

PRAGMAS = {"foreign_keys": 1, "journal_mode": "delete", "busy_timeout": 10_000}


def check(path: Path, do_upgrade: bool) -> dict:
    started = time.monotonic()
    found: dict = {"ok": False, "problems": [], "schema_version": None}
    problems = found["problems"]
    open_database(path)
    db.init(str(path), pragmas=PRAGMAS if do_upgrade else {**PRAGMAS, "query_only": 1})
    try:
        integrity = [row[0] for row in db.execute_sql("PRAGMA integrity_check").fetchall()]
        if integrity != ["ok"]:
            problems += [f"数据库损坏：{line}" for line in integrity[:5]]
            return found
        tables = {row[0] for row in db.execute_sql("SELECT name FROM sqlite_master")}
        if not {"meta", "journal", "card"} <= tables:
            problems.append("不是卡卡通的数据库")
            return found
        meta = dict(db.execute_sql("SELECT key, value FROM meta").fetchall())
        version = int(meta.get("schema_version", 0))
        found["schema_version"] = version
        found["pepper_mark"] = meta.get("pepper_mark")
        if version > SCHEMA_VERSION:
            problems.append(f"数据结构版本 {version} 比本软件的 {SCHEMA_VERSION} 新")
            return found
        if do_upgrade and version < SCHEMA_VERSION:
            try:
                upgrade()
            except Exception as exc:  # whatever stopped it, said plainly
                problems.append(f"升级到版本 {SCHEMA_VERSION} 失败：{type(exc).__name__}: {exc}")
                return found
            found["upgraded_from"], found["schema_version"] = version, SCHEMA_VERSION
        elif version < SCHEMA_VERSION:
            problems.append(f"数据结构版本 {version} 较旧，需升级后才能核对账目")
            return found
        broken = db.execute_sql("PRAGMA foreign_key_check").fetchall()
        problems += [f"外键不一致：{row[0]} 第 {row[1]} 行" for row in broken[:5]]
        problems += [f"账目不符：{line}" for line in ledger.verify()[:20]]
        found["cards"] = db.execute_sql("SELECT count(*) FROM card").fetchone()[0]
        found["journal_rows"] = db.execute_sql("SELECT count(*) FROM journal").fetchone()[0]
        last = db.execute_sql("SELECT max(created_at) FROM journal").fetchone()[0]
        found["last_transaction_at"] = str(last) if last else None
        found["ok"] = not problems
        return found
    finally:
        found["seconds"] = round(time.monotonic() - started, 3)
        db.close()


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 1:
        print("usage: python -m kakatong.checkdb PATH [--upgrade]", file=sys.stderr)
        return 2
    found = check(Path(args[0]), "--upgrade" in argv)
    print(json.dumps(found, ensure_ascii=False))
    return 0 if found["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
