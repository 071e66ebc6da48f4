"""The crash loop (bench/crash.py): 10 cycles of SIGKILL and restart under 8 clients, as
`make crash` runs 100; and its checker, shown to catch what it is there to catch."""

import copy
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "crash.py"

_spec = importlib.util.spec_from_file_location("kakatong_crash", SCRIPT)
crash = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = crash  # dataclasses look their module up by name
_spec.loader.exec_module(crash)


def test_ten_cycles_of_sigkill_lose_and_double_nothing():
    """The real server, killed 10 times mid-sale: every acknowledged transaction once, every
    retry applied at most once, every balance as the clients count it, verify passing."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--cycles", "10"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert output.count("verify ok") == 10, output
    assert "PASS  10 cycles" in output, output
    assert "flask --app app verify: ok" in output, output


# ---------------------------------------------------------------- the checker

A, B = crash.card_no(0), crash.card_no(1)


def _ledger_and_snapshot():
    """A consistent pair: a consume and a recharge on A, a consume on B voided, a refusal."""
    ledger = crash.Ledger({A: (10_000, 100), B: (5_000, 0)})
    acks = [
        crash.Ack("r-0-1", "consume", A, -1_250, 1, voucher=1),
        crash.Ack("r-1-1", "recharge", A, 3_000, 0, voucher=2),
        crash.Ack("r-2-1", "consume", B, -2_000, 2, voucher=3),
        crash.Ack("r-2-2", "void", B, 2_000, -2, voucher=4, original=3),
    ]
    ledger.acked = {a.request_id: a for a in acks}
    ledger.refused = {"r-3-1"}
    journal = [
        {"request_id": None, "type": "opening", "status": "success", "voucher": None,
         "card": card, "amount_fen": fen, "points": points, "original": None}
        for card, (fen, points) in ledger.opening.items()
    ] + [
        {"request_id": a.request_id, "type": a.kind, "voucher": a.voucher, "card": a.card,
         "amount_fen": a.delta_fen, "points": a.points, "original": a.original,
         "status": "voided" if a.voucher == 3 else "success"}
        for a in acks
    ]  # fmt: skip
    snapshot = {
        "journal": journal,
        "cards": {A: [10_000 - 1_250 + 3_000, 101], B: [5_000, 0]},
        "verify": [],
        "integrity": ["ok"],
    }
    return ledger, snapshot


def _rows(snapshot, request_id):
    return [row for row in snapshot["journal"] if row["request_id"] == request_id]


def test_the_checker_passes_books_that_agree():
    ledger, snapshot = _ledger_and_snapshot()
    assert crash.check(ledger, snapshot) == []


def test_the_checker_reports_an_acknowledged_transaction_missing():
    ledger, snapshot = _ledger_and_snapshot()
    snapshot["journal"].remove(_rows(snapshot, "r-1-1")[0])
    snapshot["cards"][A][0] -= 3_000  # the card as a lost recharge would leave it
    problems = crash.check(ledger, snapshot)
    assert any("r-1-1 (voucher 000002) is in the journal 0 times" in p for p in problems)
    assert any(f"card {A} holds" in p for p in problems), problems


def test_the_checker_reports_a_doubled_transaction():
    ledger, snapshot = _ledger_and_snapshot()
    double = copy.deepcopy(_rows(snapshot, "r-0-1")[0])
    double["voucher"] = 9
    snapshot["journal"].append(double)
    problems = crash.check(ledger, snapshot)
    assert any("r-0-1 (voucher 000001) is in the journal 2 times" in p for p in problems)


def test_the_checker_reports_a_voucher_twice():
    ledger, snapshot = _ledger_and_snapshot()
    other = copy.deepcopy(_rows(snapshot, "r-1-1")[0])
    other["request_id"], other["voucher"] = "r-9-9", 1
    ledger.acked["r-9-9"] = crash.Ack("r-9-9", "recharge", A, 3_000, 0, voucher=1)
    snapshot["journal"].append(other)
    problems = crash.check(ledger, snapshot)
    assert any("voucher in the journal 2 times" in p for p in problems), problems


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("amount_fen", -1_300, "'amount_fen': -1300"),
        ("card", B, f"'card': '{B}'"),
        ("voucher", 8, "'voucher': 8"),
        ("status", "voided", "'status': 'voided'"),
    ],
)
def test_the_checker_reports_a_row_unlike_its_answer(field, value, expected):
    ledger, snapshot = _ledger_and_snapshot()
    _rows(snapshot, "r-0-1")[0][field] = value
    problems = crash.check(ledger, snapshot)
    assert any("r-0-1" in p and expected in p for p in problems), problems


def test_the_checker_reports_a_void_whose_original_is_not_voided():
    ledger, snapshot = _ledger_and_snapshot()
    _rows(snapshot, "r-2-1")[0]["status"] = "success"
    problems = crash.check(ledger, snapshot)
    assert any("r-2-1" in p and "'status': 'success'" in p for p in problems), problems


def test_the_checker_reports_what_no_client_was_answered_for():
    ledger, snapshot = _ledger_and_snapshot()
    stray = copy.deepcopy(_rows(snapshot, "r-1-1")[0])
    stray["request_id"], stray["voucher"] = "r-7-7", 5
    snapshot["journal"].append(stray)
    problems = crash.check(ledger, snapshot)
    assert any("r-7-7 was never acknowledged" in p for p in problems), problems


def test_the_checker_reports_a_refused_request_in_the_journal():
    ledger, snapshot = _ledger_and_snapshot()
    refused = copy.deepcopy(_rows(snapshot, "r-1-1")[0])
    refused["request_id"], refused["voucher"] = "r-3-1", 6
    snapshot["journal"].append(refused)
    problems = crash.check(ledger, snapshot)
    assert any("refused request r-3-1 is in the journal" in p for p in problems), problems


def test_the_checker_reports_an_unanswered_request_applied_twice():
    ledger, snapshot = _ledger_and_snapshot()
    sent = crash.Sent("r-4-1", 4, "consume", A, "/api/v1/transactions", {}, -100, None)
    ledger.unanswered = [sent]
    row = copy.deepcopy(_rows(snapshot, "r-0-1")[0])
    row["request_id"] = "r-4-1"
    snapshot["journal"] += [dict(row, voucher=10), dict(row, voucher=11)]
    problems = crash.check(ledger, snapshot)
    assert any("unanswered request r-4-1 applied 2 times" in p for p in problems), problems


def test_the_checker_reports_a_balance_the_journal_does_not_explain():
    ledger, snapshot = _ledger_and_snapshot()
    snapshot["cards"][B] = [4_999, 0]
    problems = crash.check(ledger, snapshot)
    assert problems == [
        f"card {B} holds 4999 fen / 0 points; the opening balance and the acknowledged "
        "transactions add up to 5000 fen / 0 points"
    ]


def test_the_checker_reports_verify_and_integrity():
    ledger, snapshot = _ledger_and_snapshot()
    snapshot["verify"] = ["card X: holds 1 fen"]
    snapshot["integrity"] = ["row 3 missing from index"]
    problems = crash.check(ledger, snapshot)
    assert problems == [
        "ledger.verify: card X: holds 1 fen",
        "integrity_check: row 3 missing from index",
    ]


def test_an_answer_unlike_the_request_is_a_violation():
    ledger = crash.Ledger({A: (10_000, 0)})
    sent = crash.Sent("r-0-1", 0, "consume", A, "/api/v1/transactions", {}, -1_000, None)
    answer = {"voucher_no": "000001", "type": "consume", "card_no": A, "amount": "-9.00",
              "points": 0}  # fmt: skip
    with pytest.raises(crash.Violation, match="amount -9.00"):
        crash.settle_answer(ledger, sent, 201, answer)
    with pytest.raises(crash.Violation, match="unexpected 500"):
        crash.settle_answer(ledger, sent, 500, {"error": "internal"})
    assert crash.settle_answer(ledger, sent, 409, {"error": "insufficient_balance"}) is None
    assert ledger.refused == {"r-0-1"} and ledger.acked == {}


@pytest.mark.parametrize(
    ("text", "fen"), [("-88.00", -8800), ("0.01", 1), ("12.5", 1250), ("7", 700), ("x", None)]
)
def test_yuan_strings(text, fen):
    assert crash.fen_of(text) == fen
