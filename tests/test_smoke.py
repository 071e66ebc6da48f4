from conftest import GOLD, body


def test_consume_over_the_live_server(live_api):
    r = live_api.transact("consume", GOLD, amount="100")
    assert r.status_code == 201, body(r)
    assert body(r)["amount"] == "-88.00"


def test_consume_through_the_test_client(api):
    r = api.transact("consume", GOLD, amount="100")
    assert r.status_code == 201, body(r)
