"""The four transactions, voids, settlement and queries, through the API on a real database."""

from datetime import datetime, timedelta

import pytest
from conftest import GOLD, PLAIN, SILVER, body, operator_actor, rid

from kakatong.domain import ledger
from kakatong.store.models import Card, Level, Transaction


def card_state(card_no):
    c = Card.get(Card.card_no == card_no)
    return c.balance_fen, c.points


def test_consume_applies_the_level_discount_and_awards_points_on_what_was_paid(api):
    r = api.transact("consume", GOLD, amount="100", service_code="888888")
    assert r.status_code == 201, body(r)
    t = body(r)
    assert t["amount"] == "-88.00"  # 金卡 88 % of 100.00
    assert t["price"] == "100.00"
    assert t["points"] == 13  # ⌊8800 × 150 ÷ 100000⌋
    assert t["balance"] == "912.00"
    assert t["points_balance"] == 313
    assert t["service_code"] == "888888"
    assert t["status"] == "success" and t["type"] == "consume" and t["offline"] is False
    assert t["operator_no"] == "01" and t["terminal_id"] == "10000001"
    assert len(t["trace_no"]) == 6 and len(t["voucher_no"]) == 6 and len(t["batch_no"]) == 6
    assert card_state(GOLD) == (91200, 313)


@pytest.mark.parametrize(
    "amount, multiplier, points", [("49.50", 100, 4), ("49.50", 150, 7), ("9.99", 100, 0)]
)
def test_points_are_one_per_full_ten_yuan_times_the_multiplier(api, amount, multiplier, points):
    Level.update(points_multiplier_pct=multiplier).execute()
    r = api.transact("consume", PLAIN, amount=amount)
    assert body(r)["points"] == points


def test_discount_rounds_half_up_to_the_fen(api):
    level = Level.create(name="九五折", discount_pct=95, points_multiplier_pct=100)
    Card.update(level=level).where(Card.card_no == PLAIN).execute()
    r = api.transact("consume", PLAIN, amount="0.10")  # 9.5 fen -> 10 fen
    assert body(r)["amount"] == "-0.10"
    r = api.transact("consume", PLAIN, amount="0.09")  # 8.55 fen -> 9 fen
    assert body(r)["amount"] == "-0.09"


def test_recharge_credits_the_balance_and_keeps_the_payment_method(api):
    r = api.transact("recharge", SILVER, amount="2000", payment_method="wechat")
    assert r.status_code == 201, body(r)
    t = body(r)
    assert (t["amount"], t["points"], t["balance"], t["payment_method"]) == (
        "2000.00",
        0,
        "2200.00",
        "wechat",
    )


def test_recharge_needs_a_payment_method(api):
    r = api.transact("recharge", SILVER, amount="20")
    assert (r.status_code, body(r)["error"]) == (400, "bad_request")


def test_points_earn_by_purchase_amount_or_by_points(api):
    r = api.transact("points_earn", GOLD, amount="100")
    t = body(r)
    assert (t["amount"], t["points"], t["purchase_amount"]) == ("0.00", 15, "100.00")
    r = api.transact("points_earn", GOLD, points=100)
    assert (body(r)["points"], body(r)["points_balance"]) == (100, 415)
    assert card_state(GOLD) == (100000, 415)


@pytest.mark.parametrize(
    "fields, code",
    [
        ({"amount": "100", "points": 5}, "bad_request"),
        ({}, "bad_request"),
        ({"amount": "5"}, "no_points"),
    ],
)
def test_points_earn_refusals(api, fields, code):
    r = api.transact("points_earn", GOLD, **fields)
    assert body(r)["error"] == code
    assert card_state(GOLD) == (100000, 300)


def test_points_redeem(api):
    r = api.transact("points_redeem", GOLD, points=200)
    assert (body(r)["points"], body(r)["points_balance"]) == (-200, 100)
    r = api.transact("points_redeem", GOLD, points=101)
    assert (r.status_code, body(r)["error"]) == (409, "insufficient_points")
    assert card_state(GOLD) == (100000, 100)


def test_insufficient_balance_changes_nothing(api):
    r = api.transact("consume", SILVER, amount="200.01")
    assert (r.status_code, body(r)["error"]) == (409, "insufficient_balance")
    assert card_state(SILVER) == (20000, 0)
    r = api.transact("consume", SILVER, amount="200.00")
    assert body(r)["balance"] == "0.00"


def test_trace_numbers_increase_per_terminal_and_vouchers_across_the_shop(api):
    traces = [body(api.transact("recharge", PLAIN, amount="1", payment_method="cash"))
              for _ in range(3)]  # fmt: skip
    assert [t["trace_no"] for t in traces] == ["000001", "000002", "000003"]
    assert [t["voucher_no"] for t in traces] == ["000001", "000002", "000003"]
    assert len({t["reference_no"] for t in traces}) == 3


@pytest.mark.parametrize(
    "status, code",
    [("frozen", "card_frozen"), ("lost", "card_lost"), ("inactive", "card_inactive")],
)
def test_a_card_not_active_is_refused(api, status, code):
    Card.update(status=status).where(Card.card_no == PLAIN).execute()
    r = api.transact("consume", PLAIN, amount="1")
    assert body(r)["error"] == code
    assert card_state(PLAIN) == (50000, 120)


def test_an_expired_card_is_refused_from_the_day_after_its_expiry(api):
    from kakatong.store.runtime import shop_date, utcnow

    today = shop_date(utcnow())  # the shop's date, not the host's
    Card.update(expires_on=today).where(Card.card_no == PLAIN).execute()
    assert api.transact("consume", PLAIN, amount="1").status_code == 201
    Card.update(expires_on=today - timedelta(days=2)).where(Card.card_no == PLAIN).execute()
    assert body(api.transact("consume", PLAIN, amount="1"))["error"] == "card_expired"


# ---------------------------------------------------------------- PINs


def test_wrong_pins_count_down_then_lock(api):
    r = api.transact("consume", GOLD, amount="1", pin="000000")
    assert (r.status_code, body(r)["error"], body(r)["attempts_left"]) == (403, "wrong_pin", 2)
    r = api.transact("consume", GOLD, amount="1", pin=None)  # a missing PIN is a wrong one
    assert (body(r)["error"], body(r)["attempts_left"]) == ("wrong_pin", 1)
    r = api.transact("consume", GOLD, amount="1", pin="111111")
    assert body(r)["error"] == "pin_locked"
    r = api.transact("consume", GOLD, amount="1", pin="123456")  # right PIN, still locked
    assert body(r)["error"] == "pin_locked"
    r = api.post(f"/api/v1/cards/{GOLD}/query", {"pin": "123456"})
    assert body(r)["error"] == "pin_locked"
    assert card_state(GOLD) == (100000, 300)
    assert Transaction.select().where(Transaction.type == "consume").count() == 0


def test_a_right_pin_resets_the_count_even_when_the_request_is_then_refused(api):
    api.transact("consume", SILVER, amount="1", pin="000000")
    api.transact("consume", SILVER, amount="1", pin="000000")
    r = api.transact("consume", SILVER, amount="999")  # right PIN, insufficient balance
    assert body(r)["error"] == "insufficient_balance"
    assert Card.get(Card.card_no == SILVER).pin_failures == 0
    r = api.transact("consume", SILVER, amount="1", pin="000000")
    assert body(r)["attempts_left"] == 2


def test_the_wrong_pin_count_survives_a_restart(app, api, tmp_path):
    from kakatong.factory import create_app

    api.transact("consume", SILVER, amount="1", pin="000000")
    api.transact("consume", SILVER, amount="1", pin="000000")
    restarted = create_app({"data_dir": tmp_path, "demo": True})
    from conftest import Api

    again = Api(restarted.test_client())
    r = again.transact("consume", SILVER, amount="1", pin="000000")
    assert body(r)["error"] == "pin_locked"


def test_the_supervisor_unlocks_a_pin(api, supervisor):
    for _ in range(3):
        api.transact("consume", GOLD, amount="1", pin="000000")
    r = api.post(f"/api/v1/cards/{GOLD}/pin/unlock", {"supervisor_password": "999999"})
    assert body(r)["error"] == "wrong_password"
    r = api.post(f"/api/v1/cards/{GOLD}/pin/unlock", {"supervisor_password": supervisor})
    assert r.status_code == 200, body(r)
    assert api.transact("consume", GOLD, amount="1").status_code == 201


def test_a_pin_lock_ends_by_itself_after_the_lock_time(app):
    actor = operator_actor()
    start = datetime(2030, 1, 1, 12, 0)
    for _ in range(3):
        with pytest.raises(ledger.LedgerError):
            ledger.consume(actor, GOLD, "1", request_id=rid(), pin="000000", now=start)
    with pytest.raises(ledger.LedgerError) as locked:
        ledger.consume(
            actor, GOLD, "1", request_id=rid(), pin="123456", now=start + timedelta(minutes=29)
        )
    assert locked.value.code == "pin_locked"
    done = ledger.consume(
        actor, GOLD, "1", request_id=rid(), pin="123456", now=start + timedelta(minutes=31)
    )
    assert done.record.amount_fen == -88


# ---------------------------------------------------------------- void


def test_void_reverses_balance_and_points_exactly_once(api, supervisor):
    original = body(api.transact("consume", GOLD, amount="100"))
    r = api.get(f"/api/v1/transactions/{original['voucher_no']}")
    assert body(r)["amount"] == "-88.00" and body(r)["reference_no"] == original["reference_no"]
    void = {"supervisor_password": supervisor, "pin": "123456", "request_id": rid()}
    r = api.post(f"/api/v1/transactions/{original['voucher_no']}/void", void)
    assert r.status_code == 201, body(r)
    v = body(r)
    assert (v["type"], v["amount"], v["points"], v["balance"], v["points_balance"]) == (
        "void", "88.00", -13, "1000.00", 300,
    )  # fmt: skip
    assert v["original_voucher_no"] == original["voucher_no"]
    assert body(api.get(f"/api/v1/transactions/{original['voucher_no']}"))["status"] == "voided"
    r = api.post(
        f"/api/v1/transactions/{original['voucher_no']}/void", {**void, "request_id": rid()}
    )
    assert (r.status_code, body(r)["error"]) == (409, "already_voided")
    assert card_state(GOLD) == (100000, 300)
    assert ledger.verify() == []


def test_a_void_of_a_void_or_of_nothing_is_refused(api, supervisor):
    original = body(api.transact("recharge", PLAIN, amount="10", payment_method="cash"))
    void = {"supervisor_password": supervisor, "request_id": rid()}
    v = body(api.post(f"/api/v1/transactions/{original['voucher_no']}/void", void))
    r = api.post(f"/api/v1/transactions/{v['voucher_no']}/void", {**void, "request_id": rid()})
    assert body(r)["error"] == "not_voidable"
    r = api.post("/api/v1/transactions/999999/void", {**void, "request_id": rid()})
    assert (r.status_code, body(r)["error"]) == (404, "transaction_not_found")


def test_void_needs_the_supervisor_password_and_the_card_pin(api, supervisor):
    original = body(api.transact("consume", GOLD, amount="10"))
    url = f"/api/v1/transactions/{original['voucher_no']}/void"
    r = api.post(url, {"supervisor_password": "000000", "pin": "123456", "request_id": rid()})
    assert (r.status_code, body(r)["error"]) == (403, "wrong_password")
    r = api.post(url, {"supervisor_password": supervisor, "pin": "654321", "request_id": rid()})
    assert (body(r)["error"], body(r)["attempts_left"]) == ("wrong_pin", 2)
    assert body(api.get(f"/api/v1/transactions/{original['voucher_no']}"))["status"] == "success"


def test_the_default_supervisor_password_cannot_authorise(api):
    original = body(api.transact("consume", PLAIN, amount="10"))
    r = api.post(
        f"/api/v1/transactions/{original['voucher_no']}/void",
        {"supervisor_password": "123456", "request_id": rid()},
    )
    assert body(r)["error"] == "password_change_required"


def test_a_void_that_would_leave_the_balance_negative_is_refused(api, supervisor):
    recharge = body(api.transact("recharge", SILVER, amount="100", payment_method="cash"))
    api.transact("consume", SILVER, amount="250")
    r = api.post(
        f"/api/v1/transactions/{recharge['voucher_no']}/void",
        {"supervisor_password": supervisor, "pin": "888888", "request_id": rid()},
    )
    assert (r.status_code, body(r)["error"]) == (409, "void_refused")
    assert card_state(SILVER) == (5000, 25)
    assert body(api.get(f"/api/v1/transactions/{recharge['voucher_no']}"))["status"] == "success"


def test_only_an_open_batch_can_be_voided(api, supervisor):
    original = body(api.transact("consume", PLAIN, amount="10"))
    assert api.post("/api/v1/settlements").status_code == 201
    r = api.post(
        f"/api/v1/transactions/{original['voucher_no']}/void",
        {"supervisor_password": supervisor, "request_id": rid()},
    )
    assert body(r)["error"] == "batch_closed"


def test_the_owner_voids_on_the_strength_of_their_own_session(api):
    original = body(api.transact("consume", PLAIN, amount="10"))
    r = api.post(
        f"/api/v1/transactions/{original['voucher_no']}/void", {"request_id": rid()}, as_="owner"
    )
    assert r.status_code == 201, body(r)


# ---------------------------------------------------------------- settlement, batch, queries


def test_settlement_totals_the_batch_by_type_and_opens_the_next(api, supervisor):
    api.transact("consume", GOLD, amount="100")
    api.transact("consume", PLAIN, amount="50")
    api.transact("recharge", PLAIN, amount="20", payment_method="cash")
    api.transact("points_redeem", GOLD, points=10)
    voided = body(api.transact("points_earn", PLAIN, points=7))
    api.post(
        f"/api/v1/transactions/{voided['voucher_no']}/void",
        {"supervisor_password": supervisor, "request_id": rid()},
    )
    batch = body(api.get("/api/v1/batch"))
    assert batch["batch_no"] == "000001" and len(batch["transactions"]) == 6
    r = api.post("/api/v1/settlements")
    totals = body(r)
    assert totals["batch_no"] == "000001"
    assert totals["types"]["consume"] == {"count": 2, "amount": "-138.00", "points": 18}
    assert totals["types"]["recharge"] == {"count": 1, "amount": "20.00", "points": 0}
    assert totals["types"]["points_redeem"] == {"count": 1, "amount": "0.00", "points": -10}
    assert totals["types"]["points_earn"] == {"count": 0, "amount": "0.00", "points": 0}
    assert (totals["count"], totals["void_count"]) == (4, 1)
    after = body(api.get("/api/v1/batch"))
    assert (after["batch_no"], after["transactions"], after["count"]) == ("000002", [], 0)
    t = body(api.transact("consume", PLAIN, amount="1"))
    assert t["batch_no"] == "000002"


def test_queries_show_balance_and_points_and_write_nothing(api):
    r = api.post(f"/api/v1/cards/{GOLD}/query", {"pin": "123456"})
    assert body(r) == {"card_no": GOLD, "balance": "1000.00", "points": 300}
    r = api.post(f"/api/v1/cards/{PLAIN}/query", {})
    assert body(r)["balance"] == "500.00"
    r = api.post(f"/api/v1/cards/{GOLD}/query", {"pin": "000000"})
    assert body(r)["error"] == "wrong_pin"
    assert Transaction.select().where(Transaction.type != "opening").count() == 0


# ---------------------------------------------------------------- idempotency


def test_the_same_request_id_applies_once_and_returns_the_original(api):
    request = {"amount": "100", "request_id": rid()}
    first = api.transact("consume", GOLD, **request)
    again = api.transact("consume", GOLD, **request)
    assert first.status_code == again.status_code == 201
    assert body(first) == body(again)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert card_state(GOLD) == (91200, 313)


def test_the_same_amount_written_differently_is_the_same_request(api):
    request_id = rid()
    api.transact("consume", PLAIN, amount="90", request_id=request_id)
    again = api.transact("consume", PLAIN, amount="90.00", request_id=request_id)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert card_state(PLAIN)[0] == 41000


@pytest.mark.parametrize(
    "change",
    [{"amount": "101"}, {"type": "recharge", "payment_method": "cash"}, {"card_no": PLAIN}],
)
def test_the_same_request_id_with_other_content_is_refused(api, change):
    request_id = rid()
    api.transact("consume", GOLD, amount="100", request_id=request_id)
    fields = {"amount": "100", "request_id": request_id, **change}
    kind, card = fields.pop("type", "consume"), fields.pop("card_no", GOLD)
    r = api.transact(kind, card, **fields)
    assert (r.status_code, body(r)["error"]) == (409, "request_id_reused")
    assert card_state(GOLD) == (91200, 313)


def test_a_refused_request_claims_nothing(api):
    request_id = rid()
    r = api.transact("consume", SILVER, amount="300", request_id=request_id)
    assert body(r)["error"] == "insufficient_balance"
    api.transact("recharge", SILVER, amount="100", payment_method="cash")
    r = api.transact("consume", SILVER, amount="300", request_id=request_id)
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers


def test_a_void_replayed_returns_the_void(api, supervisor):
    original = body(api.transact("consume", PLAIN, amount="10"))
    request = {"supervisor_password": supervisor, "request_id": rid()}
    url = f"/api/v1/transactions/{original['voucher_no']}/void"
    first, again = api.post(url, request), api.post(url, request)
    assert body(first) == body(again) and again.headers["Idempotent-Replayed"] == "true"
    assert card_state(PLAIN) == (50000, 120)


# ---------------------------------------------------------------- time zone


def test_the_settlement_date_is_the_shop_date_whatever_the_hosts_zone(app):
    actor = operator_actor()
    late_utc = datetime(2011, 12, 12, 17, 30)  # 2011-12-13 01:30 in Shanghai
    posted = ledger.consume(actor, PLAIN, "1", request_id=rid(), now=late_utc)
    assert posted.record.settle_date.isoformat() == "2011-12-13"


def test_another_shop_zone_moves_the_settlement_date(tmp_path):
    from kakatong.factory import create_app

    create_app({"data_dir": tmp_path, "demo": True, "tz": "America/New_York"})
    posted = ledger.consume(operator_actor(), PLAIN, "1", request_id=rid(),
                            now=datetime(2011, 12, 13, 3, 0))  # fmt: skip
    assert posted.record.settle_date.isoformat() == "2011-12-12"


def test_a_replay_is_answered_with_its_result_even_after_the_settings_changed(api):
    request = {"amount": "100", "request_id": rid()}
    first = body(api.transact("consume", GOLD, **request))
    api.put(
        "/api/v1/settings", {"single_limit_fen": 1000, "enabled_types": ["recharge"]}, as_="owner"
    )
    again = api.transact("consume", GOLD, **request)
    assert again.status_code == 201 and body(again) == first
    assert body(api.transact("consume", GOLD, amount="100"))["error"] == "transaction_disabled"


def test_a_replay_after_a_server_restart_returns_the_original(api, tmp_path):
    from conftest import Api

    from kakatong.factory import create_app

    request = {"amount": "100", "request_id": rid()}
    first = body(api.transact("consume", GOLD, **request))
    again = Api(create_app({"data_dir": tmp_path, "demo": True}).test_client())
    r = again.transact("consume", GOLD, **request)
    assert r.status_code == 201 and r.headers["Idempotent-Replayed"] == "true"
    assert body(r) == first
    assert card_state(GOLD) == (91200, 313)
