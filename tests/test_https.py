"""HTTPS on the shop's network, with real sockets: the shop's CA and the server's certificate,
a TLS client that trusts only that CA, plain HTTP from a non-loopback address (the box's own
LAN address as the source) redirected, loopback HTTP as before, and what crosses the wire."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time

import pytest
import requests
from conftest import GOLD, PASSWORDS, PINS, LiveServer, ensure_password, free_port, rid
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from test_reader_app import Stream

from kakatong import tls, welcome
from kakatong.config import Config
from kakatong.factory import create_app
from kakatong.serve import HttpsServer, start_https
from kakatong.store.db import db


def lan_address() -> str:
    """The box's own address on its network: a source address that is not loopback."""
    found = welcome.lan_addresses()
    if not found:
        if os.environ.get("CI"):
            pytest.fail("CI has no non-loopback address to test plain HTTP from the network")
        pytest.skip("no non-loopback address on this machine")
    return found[0]


class Shop:
    """The app served as app.py serves it: waitress (HTTP) on every interface and the HTTPS
    server beside it, on free ports, in threads of the test process."""

    def __init__(self, data_dir, **config):
        self.app = create_app(
            {
                "data_dir": data_dir,
                "demo": True,
                "host": "0.0.0.0",
                "https_port": 0,
                "tls_names": "shop.test",
                **config,
            }
        )
        self.app.config["KAKATONG_STREAM_SECONDS"] = 10
        self.http = LiveServer(self.app, host="0.0.0.0")
        self.port = self.http.port
        self.app.extensions["kakatong.tls"].http_port = self.port
        self.https = start_https(self.app)
        self.https_port = self.https.port if self.https else None
        self.ca = data_dir / "tls" / "ca.crt"

    def stop(self):
        if self.https:
            self.https.stop()
        self.http.stop()
        self.app.extensions["kakatong.printing"].stop()
        if not db.is_closed():
            db.close()

    def tls_client(self) -> ssl.SSLContext:
        """A client that trusts the shop's CA and nothing else."""
        return ssl.create_default_context(cafile=str(self.ca))  # cafile: no system CAs


@pytest.fixture
def shop(tmp_path):
    shop = Shop(tmp_path)
    yield shop
    shop.stop()


def plain_from(address: str, port: int, method: str, path: str, body=None, headers=None):
    """A plain-HTTP request whose source address is `address` (not loopback)."""
    conn = http.client.HTTPConnection(address, port, timeout=10, source_address=(address, 0))
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, data


# ---------------------------------------------------------------- the certificates


def test_the_first_start_makes_a_ca_and_a_certificate_naming_every_address(tmp_path):
    names = ["192.168.1.10", "shopbox", "shopbox.local", "localhost", "127.0.0.1"]
    certificates = tls.Certificates(tmp_path / "tls", lambda: names)
    assert certificates.check() == "there was none"
    key_file = tmp_path / "tls" / "ca.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "tls").stat().st_mode) == 0o700
    ca = x509.load_pem_x509_certificate((tmp_path / "tls" / "ca.crt").read_bytes())
    server = certificates.server()
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    server.verify_directly_issued_by(ca)
    assert tls.names_in(server) == {n.lower() for n in names}
    usage = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in usage
    assert (server.not_valid_after_utc - server.not_valid_before_utc).days <= 398
    # The public certificate holds no key; the CA key file is a key.
    assert b"PRIVATE" not in (tmp_path / "tls" / "ca.crt").read_bytes()
    serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    # Nothing to do while it serves.
    assert certificates.check() is None


def test_a_new_address_or_the_end_of_validity_issues_a_new_certificate(tmp_path):
    names = ["192.168.1.10", "localhost", "127.0.0.1"]
    now = [dt.datetime(2026, 12, 5, tzinfo=dt.UTC)]
    certificates = tls.Certificates(tmp_path / "tls", lambda: list(names), clock=lambda: now[0])
    certificates.check()
    ca_before = (tmp_path / "tls" / "ca.crt").read_bytes()
    first = certificates.server()

    names.insert(0, "10.0.0.7")  # the box moved to another network
    assert certificates.check() == "it does not name 10.0.0.7"
    second = certificates.server()
    assert second.serial_number != first.serial_number
    # The old address stays on it (a tablet may still use it); the authority is the same.
    assert {"10.0.0.7", "192.168.1.10"} <= tls.names_in(second)
    assert (tmp_path / "tls" / "ca.crt").read_bytes() == ca_before

    now[0] += dt.timedelta(days=360)
    assert certificates.check() is None
    now[0] += dt.timedelta(days=10)  # 27 days left
    assert certificates.check().startswith("it expires on ")
    assert certificates.server().not_valid_after_utc > now[0] + dt.timedelta(days=390)


def test_a_key_that_does_not_match_its_certificate_is_issued_again(tmp_path):
    """A crash between writing the server's key and its certificate leaves them apart: the next
    check issues both again rather than leaving HTTPS unable to start."""
    certificates = tls.Certificates(tmp_path / "tls", lambda: ["127.0.0.1"])
    certificates.check()
    stray = tls.Certificates(tmp_path / "other", lambda: ["127.0.0.1"])
    stray.check()
    (tmp_path / "tls" / "server.key").write_bytes((tmp_path / "other" / "server.key").read_bytes())
    assert certificates.check() == "its key does not match it"
    certificates.context()  # loads: key and certificate agree again


def test_the_shop_names_are_the_lan_addresses_the_host_name_and_the_configured_ones():
    config = Config.from_env({}, tls_names="shop.test, 203.0.113.9")
    names = tls.shop_names(config)
    for address in welcome.lan_addresses():
        assert address in names
    assert {"shop.test", "203.0.113.9", "localhost", "127.0.0.1"} <= set(names)
    host = socket.gethostname().lower()
    assert host in names or host == "localhost"


# ---------------------------------------------------------------- a real TLS client


def test_a_tls_client_trusting_only_the_shops_ca_gets_a_certificate_naming_the_address_used(shop):
    address = lan_address()
    context = shop.tls_client()
    for name, connect_to in ((address, address), ("shop.test", "127.0.0.1"), ("127.0.0.1", None)):
        with (
            socket.create_connection((connect_to or name, shop.https_port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname=name) as conn,
        ):
            assert conn.version() in ("TLSv1.2", "TLSv1.3")
            peer = conn.getpeercert()
            alt = {value for _kind, value in peer["subjectAltName"]}
            assert name in alt
            conn.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := conn.recv(4096):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
        assert b'"status":"ok"' in answer.replace(b" ", b"")
    # A client that trusts the usual authorities only refuses it: the shop's CA is its own.
    with (
        socket.create_connection(("127.0.0.1", shop.https_port), timeout=10) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        ssl.create_default_context().wrap_socket(raw, server_hostname="127.0.0.1")


def test_a_renewed_certificate_is_served_to_the_next_connection_without_a_restart(tmp_path):
    names = ["127.0.0.1", "localhost"]
    app = create_app({"data_dir": tmp_path, "demo": False})
    certificates = tls.Certificates(tmp_path / "tls", lambda: list(names))
    server = HttpsServer(app, certificates, "127.0.0.1", 0, 4).start()
    try:
        context = ssl.create_default_context(cafile=str(tmp_path / "tls" / "ca.crt"))

        def served_names() -> set[str]:
            with (
                socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
                context.wrap_socket(raw, server_hostname="127.0.0.1") as conn,
            ):
                return {v for _k, v in conn.getpeercert()["subjectAltName"]}

        assert "shop.test" not in served_names()
        names.append("shop.test")
        assert certificates.check() == "it does not name shop.test"
        assert "shop.test" in served_names()
    finally:
        server.stop()
        app.extensions["kakatong.printing"].stop()
        db.close()


# ---------------------------------------------------------------- plain HTTP


def test_plain_http_from_the_network_is_redirected_to_https_and_loopback_is_as_before(shop):
    address = lan_address()
    response, _ = plain_from(address, shop.port, "GET", "/terminal?lang=en")
    assert response.status == 308
    assert response.getheader("Location") == f"https://{address}:{shop.https_port}/terminal?lang=en"
    # A request with a body has sent its password in clear already: refused, not redirected
    # (a redirect would have it sent again, and a client set up with http:// go on sending
    # it in clear); the back office's forms too, before their CSRF check.
    body = json.dumps({"operator_no": "01", "password": "x"})
    response, data = plain_from(
        address, shop.port, "POST", "/api/v1/session", body, {"Content-Type": "application/json"}
    )
    assert response.status == 403 and json.loads(data)["error"] == "https_required"
    response, data = plain_from(address, shop.port, "POST", "/login", "account=owner")
    assert response.status == 403 and "HTTPS" in data.decode()
    response, _ = plain_from(address, shop.port, "GET", "/static/terminal/main.js")
    assert response.status == 308
    # Odd paths and hosts still get a well-formed redirect, never a 500.
    response, _ = plain_from(address, shop.port, "GET", "/terminal%0d%0aSet-Cookie:%20x=1")
    assert response.status == 308
    assert response.getheader("Location") == (
        f"https://{address}:{shop.https_port}/terminal%0D%0ASet-Cookie:%20x=1"
    )
    assert response.getheader("Set-Cookie") is None
    with socket.create_connection((address, shop.port), source_address=(address, 0)) as raw:
        raw.sendall(b"GET /terminal HTTP/1.0\r\n\r\n")  # no Host header at all
        answer = raw.makefile("rb").read().decode("latin-1")
    assert answer.startswith("HTTP/1.0 308") or answer.startswith("HTTP/1.1 308"), answer[:80]
    location = re.search(r"Location: (\S+)", answer)[1]
    first = shop.app.extensions["kakatong.tls"].hosts()[0]
    assert location == f"https://{first}:{shop.https_port}/terminal"

    # What a device needs before it trusts the CA still answers in plain HTTP.
    response, data = plain_from(address, shop.port, "GET", "/ca.crt")
    assert response.status == 200
    assert response.getheader("Content-Type") == "application/x-x509-ca-cert"
    assert (
        x509.load_der_x509_certificate(data).subject
        == x509.load_pem_x509_certificate(shop.ca.read_bytes()).subject
    )
    response, data = plain_from(address, shop.port, "GET", "/ca.pem")
    assert response.status == 200 and data == shop.ca.read_bytes()
    for path in ("/tls", "/api/v1/health", "/static/tls.js", "/static/backoffice.css"):
        response, _ = plain_from(address, shop.port, "GET", path)
        assert response.status == 200, path

    # Loopback: the kiosk browser on the box and the admin tools, unchanged.
    local = f"http://127.0.0.1:{shop.port}"
    assert requests.get(f"{local}/terminal", allow_redirects=False, timeout=10).status_code == 200
    ensure_password("01")
    signed = requests.post(
        f"{local}/api/v1/session",
        json={"operator_no": "01", "password": PASSWORDS["01"]},
        timeout=10,
    )
    assert signed.status_code == 201


def test_over_https_the_whole_app_answers_and_the_session_cookie_is_secure(shop):
    https = f"https://127.0.0.1:{shop.https_port}"
    # verify= on the call: requests lets REQUESTS_CA_BUNDLE override a session's own.
    page = requests.get(f"{https}/setup", verify=str(shop.ca), timeout=10)
    assert page.status_code == 200
    cookie = page.headers.get("Set-Cookie", "")
    assert "kakatong_session=" in cookie and "Secure" in cookie, cookie
    # No HSTS: a shop may turn TLS off again.
    assert "Strict-Transport-Security" not in page.headers
    # Over the box's own plain HTTP the same cookie is not Secure (a browser would drop it).
    local = requests.get(f"http://127.0.0.1:{shop.port}/setup", timeout=10)
    assert "kakatong_session=" in local.headers["Set-Cookie"]
    assert "Secure" not in local.headers["Set-Cookie"]


def test_when_https_is_on_but_did_not_start_nothing_is_served_in_clear_to_the_network(tmp_path):
    busy = socket.socket()
    busy.bind(("0.0.0.0", 0))
    busy.listen()
    try:
        shop = Shop(tmp_path, https_port=busy.getsockname()[1])
    finally:
        busy.close()
    try:
        assert shop.https is None
        state = shop.app.extensions["kakatong.tls"]
        assert not state.serving and "Address already in use" in state.problem
        address = lan_address()
        response, data = plain_from(address, shop.port, "GET", "/api/v1/cards/x")
        assert response.status == 503
        assert json.loads(data)["error"] == "https_unavailable"
        response, data = plain_from(address, shop.port, "GET", "/terminal")
        assert response.status == 503 and "HTTPS" in data.decode()
        response, _ = plain_from(address, shop.port, "GET", "/tls")
        assert response.status == 200
        local = requests.get(f"http://127.0.0.1:{shop.port}/terminal", timeout=10)
        assert local.status_code == 200
    finally:
        shop.stop()


def test_tls_off_serves_plain_http_to_the_network_and_says_so(tmp_path, caplog):
    with caplog.at_level("WARNING", logger="kakatong.https"):
        shop = Shop(tmp_path, tls=False)
    try:
        assert shop.https is None
        assert any("KAKATONG_TLS=off" in r.message for r in caplog.records)
        address = lan_address()
        response, _ = plain_from(address, shop.port, "GET", "/terminal")
        assert response.status == 200
        response, _ = plain_from(address, shop.port, "GET", "/ca.crt")
        assert response.status == 404
        assert not (tmp_path / "tls").exists()
        with shop.app.test_request_context():
            warning = shop.app.extensions["kakatong.tls"].warning()
        assert "KAKATONG_TLS=off" in warning
    finally:
        shop.stop()


def test_the_swipe_stream_arrives_at_once_over_https(shop):
    """cheroot writes each event as it comes (no buffering in the TLS layer): a swipe on the
    reader reaches a page on the shop's network at once, as over plain HTTP."""
    ensure_password("01")
    base = f"https://127.0.0.1:{shop.https_port}"
    signed = requests.post(
        f"{base}/api/v1/session",
        json={"operator_no": "01", "password": PASSWORDS["01"]},
        verify=str(shop.ca),
        timeout=10,
    )
    stream = Stream(base, signed.json()["token"], verify=str(shop.ca))
    try:
        assert stream.response.status_code == 200
        assert stream.response.headers["Content-Type"].startswith("text/event-stream")
        stream.next("status")
        started = time.monotonic()
        shop.app.extensions["kakatong.swipes"].swipe("10000001", GOLD, "4912")
        assert stream.next("swipe", timeout=2)["card_no"] == GOLD
        assert time.monotonic() - started < 1
    finally:
        stream.close()


def test_the_home_page_warns_while_the_network_is_not_served_over_https(app, office):
    state = app.extensions["kakatong.tls"]
    assert 'id="tls-warning"' not in office.get("/").get_data(as_text=True)  # not started here
    state.problem = "OSError: [Errno 98] Address already in use"
    page = office.get("/").get_data(as_text=True)
    assert 'id="tls-warning"' in page and "HTTPS 未能启动" in page and "Errno 98" in page
    state.problem, state.enabled = "", False
    page = office.get("/").get_data(as_text=True)
    assert 'id="tls-warning"' in page and "KAKATONG_TLS=off" in page and 'href="/tls"' in page


# ---------------------------------------------------------------- what crosses the wire


class Tap:
    """A TCP relay on loopback that keeps every byte both ways: what someone on the shop's
    Wi-Fi would capture between a tablet and the box."""

    def __init__(self, target_port: int):
        self.target = target_port
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.seen = bytearray()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source, sink):
        try:
            while data := source.recv(65536):
                with self.lock:
                    self.seen += data
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self):
        self.sock.close()


def sign_in_and_consume(base: str, verify) -> None:
    session = requests.Session()
    signed = session.post(
        f"{base}/api/v1/session",
        json={"operator_no": "01", "password": PASSWORDS["01"]},
        verify=verify,
        timeout=10,
    )
    assert signed.status_code == 201, signed.text
    session.headers["Authorization"] = f"Bearer {signed.json()['token']}"
    posted = session.post(
        f"{base}/api/v1/transactions",
        json={
            "type": "consume",
            "card_no": GOLD,
            "amount": "12.34",
            "pin": PINS[GOLD],
            "request_id": rid(),
        },
        verify=verify,
        timeout=10,
    )
    assert posted.status_code == 201, posted.text
    session.close()


def test_a_sign_in_and_a_consume_with_a_pin_cross_the_wire_only_encrypted(shop):
    ensure_password("01")
    secrets = (PASSWORDS["01"].encode(), PINS[GOLD].encode(), b'"pin"', b"password")

    tapped_tls = Tap(shop.https_port)
    try:
        # requests checks the name against the certificate: 127.0.0.1 is on it.
        sign_in_and_consume(f"https://127.0.0.1:{tapped_tls.port}", str(shop.ca))
        time.sleep(0.2)
        seen = bytes(tapped_tls.seen)
    finally:
        tapped_tls.close()
    assert seen[:1] == b"\x16"  # a TLS handshake record first
    assert len(seen) > 2000
    for secret in secrets:
        assert secret not in seen, secret

    # The same over plain HTTP, tapped the same way, shows them: the tap sees what it is given.
    tapped_plain = Tap(shop.port)
    try:
        sign_in_and_consume(f"http://127.0.0.1:{tapped_plain.port}", True)
        time.sleep(0.2)
        plain = bytes(tapped_plain.seen)
    finally:
        tapped_plain.close()
    for secret in secrets:
        assert secret in plain, secret


# ---------------------------------------------------------------- the trust page


def test_the_trust_page_offers_the_ca_its_fingerprint_a_qr_code_and_the_steps(shop):
    address = lan_address()
    response, data = plain_from(address, shop.port, "GET", "/tls")
    page = data.decode()
    der = x509.load_pem_x509_certificate(shop.ca.read_bytes()).public_bytes(
        serialization.Encoding.DER
    )
    digest = hashlib.sha256(der).hexdigest().upper()
    assert ":".join(digest[i : i + 2] for i in range(0, 64, 2)) in page
    assert 'href="/ca.crt"' in page and 'href="/ca.pem"' in page
    assert 'src="data:image/svg+xml;base64,' in page
    assert f"http://{address}:{shop.port}/tls" in page  # the QR code's address, for the next
    assert f"https://{address}:{shop.https_port}/terminal" in page
    for system in ("安卓平板", "iPad", "Windows", "Linux"):
        assert system in page
    # tls.js may ask the HTTPS port, and only it besides this origin.
    csp = response.getheader("Content-Security-Policy")
    assert f"connect-src 'self' https://{address}:{shop.https_port};" in csp
    assert "本机证书" in page and address in page


def test_the_server_stops_at_once_with_a_tablets_swipe_stream_open(tmp_path):
    """docker stop gives 10 s: a tablet's open swipe stream over HTTPS must not hold the
    process (cheroot's own stop waits for it to end)."""
    port, https_port = free_port(), free_port()
    env = {
        **os.environ,
        "KAKATONG_DATA_DIR": str(tmp_path),
        "KAKATONG_PORT": str(port),
        "KAKATONG_HTTPS_PORT": str(https_port),
        "KAKATONG_HOST": "127.0.0.1",
        "KAKATONG_MSR": "",
    }
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([*flask, "set-password", "01", PASSWORDS["01"]], cwd=root, env=env, check=True)
    process = subprocess.Popen(
        [sys.executable, "app.py"], cwd=root, env=env, stderr=subprocess.DEVNULL
    )
    try:
        base = f"https://127.0.0.1:{https_port}"
        ca = str(tmp_path / "tls" / "ca.crt")
        deadline = time.monotonic() + 30
        while True:
            try:
                signed = requests.post(
                    f"{base}/api/v1/session",
                    json={"operator_no": "01", "password": PASSWORDS["01"]},
                    verify=ca,
                    timeout=5,
                )
                break
            except (requests.ConnectionError, OSError):
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        stream = Stream(base, signed.json()["token"], verify=ca)
        assert stream.response.status_code == 200
        stream.next("status")
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=8)
        assert time.monotonic() - started < 5
        stream.close()
    finally:
        if process.poll() is None:
            process.kill()
