"""Nothing personal is kept by the browser: every answer of the API and every page shown to a
signed-in user of the back office says `Cache-Control: no-store`, so a shared tablet keeps no
member, journal or staff page after sign-out. Static files and the pages of no one (sign-in,
the terminal page's shell) are left cacheable."""

from __future__ import annotations

import pytest
from conftest import GOLD, Office, body

NO_STORE = "no-store"


def cache_control(response) -> str:
    return response.headers.get("Cache-Control", "")


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/members",
        f"/members/{GOLD}",
        "/reports/journal",
        "/reports/stats",
        "/staff",
        "/audit",
        "/settings",
        "/terminals",
        "/trade",
        "/settlement",
        "/account/password",
        "/members/export.csv",
        "/backups",
        "/no-such-page",  # an error page of a signed-in user
    ],
)
def test_every_signed_in_page_is_not_kept(office, path):
    r = office.get(path)
    assert r.status_code in (200, 404), path
    assert cache_control(r) == NO_STORE, path


def test_a_receipt_page_is_not_kept(office, api):
    voucher = body(api.transact("consume", GOLD, amount="1"))["voucher_no"]
    assert cache_control(office.get(f"/receipts/{voucher}")) == NO_STORE


def test_an_operators_pages_are_not_kept_either(office_as):
    operator = office_as("01")
    for path in ("/", "/trade", "/members/activate"):
        assert cache_control(operator.get(path)) == NO_STORE, path


def test_api_answers_are_not_kept(api, client):
    r = client.post("/api/v1/session", json={"operator_no": "01", "password": "x"})
    assert r.status_code == 403 and cache_control(r) == NO_STORE
    api.token("00")
    for path, as_ in (
        (f"/api/v1/cards/{GOLD}", "owner"),
        ("/api/v1/transactions", "00"),
        ("/api/v1/staff", "00"),
        ("/api/v1/session", "01"),
    ):
        r = api.get(path, as_=as_)
        assert r.status_code == 200 and cache_control(r) == NO_STORE, path
    # The answer that carries the token, and a refusal.
    signed_in = client.post("/api/v1/session", json={"operator_no": "01", "password": "2580"})
    assert signed_in.status_code == 201 and cache_control(signed_in) == NO_STORE
    assert cache_control(client.get("/api/v1/batch")) == NO_STORE


def test_static_files_and_the_pages_of_no_one_stay_cacheable(client, office):
    # Signed out: the sign-in page and the terminal page's shell.
    anonymous = Office(client.application.test_client())
    for path in ("/login", "/terminal"):
        r = anonymous.get(path)
        assert r.status_code == 200 and NO_STORE not in cache_control(r), path
    # Static files, signed in or not.
    for browser in (office, anonymous):
        for path in ("/static/backoffice.css", "/static/backoffice.js", "/static/terminal/main.js"):
            r = browser.get(path)
            assert r.status_code == 200 and NO_STORE not in cache_control(r), path
            r.close()


def test_after_sign_out_the_pages_are_gone_and_the_sign_in_page_is_cacheable(office):
    page = office.get("/members")
    assert cache_control(page) == NO_STORE
    office.post("/logout", page="/")
    r = office.get("/members")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert NO_STORE not in cache_control(office.get("/login"))
