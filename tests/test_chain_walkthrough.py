"""README's "Two branches on one machine", step by step: two `python app.py` processes, each
with its own data directory holding copies of the first one's secrets, on one PostgreSQL;
a second branch and its till made by the owner; a card recharged at one branch and spent at
the other; each branch's statistics and the chain's add up; `flask verify` passes from both
data directories. (The back office's pages for the same steps: test_branches.py.)"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from conftest import ON_POSTGRES, PASSWORDS, PLAIN
from test_chain_processes import ROOT, Process, assert_verify_passes, chain_env, fen, rid

pytestmark = pytest.mark.skipif(
    not ON_POSTGRES, reason="two server processes share a database only on PostgreSQL"
)

SECRETS = ("pin_pepper", "secret_key", "offline_seal.pem")  # README: what a branch copies


def flask(data_dir, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT, env=chain_env(data_dir), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def sign_in(process: Process, staff_no: str, terminal_id: str, key: str | None = None) -> str:
    payload = {"operator_no": staff_no, "password": PASSWORDS[staff_no], "terminal_id": terminal_id}
    if key:
        payload["terminal_key"] = key
    status, data, _ = process.call("POST", "/api/v1/session", payload, token="")
    assert status == 201, data
    return data["token"]


def day_totals(process: Process, token: str, branch_id: int | None = None) -> dict:
    query = "" if branch_id is None else f"?branch_id={branch_id}"
    status, data, _ = process.call("GET", f"/api/v1/stats/daily{query}", token=token)
    assert status == 200, data
    return data["totals"]


def test_two_branches_on_one_machine_as_the_readme_says(database_url, tmp_path):
    first_dir, second_dir = tmp_path / "data", tmp_path / "data-2"
    # 2. The first branch: the schema, its secrets and the demo cards; passwords set.
    flask(first_dir, "init")
    for staff_no in ("owner", "00", "01"):
        flask(first_dir, "set-password", staff_no, PASSWORDS[staff_no])
    first = Process("first branch", first_dir, tmp_path / "first.log")
    # 3. The second branch: its own data directory, with copies of the first one's secrets.
    second_dir.mkdir()
    for name in SECRETS:
        shutil.copy2(first_dir / name, second_dir / name)
    second = Process("second branch", second_dir, tmp_path / "second.log")
    try:
        for process in (first, second):
            process.start()
        for process in (first, second):
            process.wait_ready()
        # 4. The owner makes the branch and its till.
        owner = sign_in(first, "owner", "10000001")
        status, branch, _ = first.call(
            "POST", "/api/v1/branches", {"name": "二店", "address": "北京路 8 号"}, token=owner
        )
        assert status == 201, branch
        status, till, _ = first.call(
            "POST", "/api/v1/terminals", {"terminal_id": "10000002", "name": "二店收银台"},
            token=owner,
        )  # fmt: skip
        assert status == 201, till
        status, moved, _ = first.call(
            "PUT", "/api/v1/terminals/10000002", {"branch_id": branch["id"]}, token=owner
        )
        assert status == 200 and moved["branch_id"] == branch["id"], moved
        # 5. Recharged at the first branch, spent at the second.
        first.token = sign_in(first, "01", "10000001")
        second.token = sign_in(second, "01", "10000002", till["terminal_key"])
        status, recharged, _ = first.transact("recharge", PLAIN, rid("in"), amount="100.00",
                                              payment_method="cash")  # fmt: skip
        assert status == 201, recharged
        status, spent, _ = second.transact("consume", PLAIN, rid("out"), amount="30.00")
        assert status == 201, spent
        assert fen(spent["balance"]) == fen(recharged["balance"]) - 30_00
        # 6. The books: each branch's day, and the chain's their sum, on either process.
        status, listed, _ = first.call("GET", "/api/v1/branches", token=owner)
        (home_id,) = [b["id"] for b in listed["branches"] if b["id"] != branch["id"]]
        for process in (first, second):
            home = day_totals(process, owner, home_id)
            other = day_totals(process, owner, branch["id"])
            chain = day_totals(process, owner)
            assert fen(home["recharge_total"]) == 100_00 and fen(home["consume_total"]) == 0
            assert fen(other["consume_total"]) == 30_00 and fen(other["recharge_total"]) == 0
            assert chain["count"] >= 2
            for name in chain:
                assert chain[name] == _sum(home[name], other[name]), name
    finally:
        for process in (first, second):
            process.stop()
    assert_verify_passes(first_dir)
    assert_verify_passes(second_dir)


def _sum(a, b):
    """Two totals' sum: counts as numbers, money as the API's yuan text."""
    if isinstance(a, int):
        return a + b
    total = fen(a) + fen(b)
    return f"{'-' if total < 0 else ''}{abs(total) // 100}.{abs(total) % 100:02d}"
