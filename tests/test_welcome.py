"""First start: `python app.py` says where to go next, with addresses another device can open."""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from conftest import free_port

from kakatong import welcome

ROOT = Path(__file__).resolve().parent.parent
PINS = ("123456", "888888")  # the demo cards' PINs (README): never in a log


def serve(data_dir: Path, port: int, **env: str) -> tuple[subprocess.Popen, list[str]]:
    """python app.py as `make run` starts it; the log (stdout, in the text format) up to its
    terminal page's line."""
    environment = {
        **os.environ,
        "KAKATONG_DATA_DIR": str(data_dir),
        "KAKATONG_PORT": str(port),
        "KAKATONG_HTTPS_PORT": str(free_port()),
        "KAKATONG_HOST": "0.0.0.0",
        "KAKATONG_MSR": "",
        "KAKATONG_LOG_FORMAT": "text",
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if "Terminal page:" in line:
            break
    # The server answers once every line of the welcome is written (stop() returns the rest).
    while time.monotonic() < deadline and process.poll() is None:
        try:
            requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
            break
        except requests.ConnectionError:
            time.sleep(0.05)
    return process, lines


def stop(process: subprocess.Popen) -> list[str]:
    """Stop the server; the rest of its log. Read through the same file object as serve()
    (communicate() reads the pipe itself and would miss what that object has buffered)."""
    process.terminate()
    process.wait(timeout=20)
    return process.stdout.read().splitlines()


def urls(lines: list[str], label: str) -> list[str]:
    return [re.search(r"(https?://\S+)", line)[1] for line in lines if f"{label}:" in line]


def test_the_first_start_names_the_pages_on_the_shops_network(tmp_path):
    port, https_port = free_port(), free_port()
    process, lines = serve(tmp_path, port, KAKATONG_HTTPS_PORT=str(https_port))
    try:
        log = "\n".join(lines)
        assert "0.0.0.0:" not in log and "http://0.0.0.0" not in log
        first_run, terminal = urls(lines, "First run (owner)"), urls(lines, "Terminal page")
        trust = urls(lines, "Each tablet or phone trusts the shop's certificate once")
        assert first_run and terminal and trust, log
        expected = welcome.lan_addresses() or ["127.0.0.1"]
        # The pages over HTTPS; the trust page, which a new device opens first, in plain HTTP.
        assert terminal == [f"https://{a}:{https_port}/terminal" for a in expected]
        assert trust == [f"http://{a}:{port}/tls" for a in expected]
        assert re.search(
            r"The shop's certificate, SHA-256 .*: ([0-9A-F]{2}:){31}[0-9A-F]{2}$", log, re.M
        )
        # Each address answers from this box: the pages are where the log says, and their
        # certificate chains to the shop's CA.
        ca = str(tmp_path / "tls" / "ca.crt")
        for url in first_run:
            assert url.endswith("/setup")
            page = requests.get(url, timeout=10, verify=ca)
            assert page.status_code == 200 and "店主" in page.text
        for url in terminal:
            assert requests.get(url, timeout=10, verify=ca).status_code == 200
        for url in trust:
            assert requests.get(url, timeout=10).status_code == 200
    finally:
        lines += stop(process)
    log = "\n".join(lines)
    assert "Demo cards (their PINs are in the README): 1680106700000018, 1680860097157114" in log
    assert "ready to activate: 1680106700000026" in log
    assert not any(pin in log for pin in PINS)


def test_once_the_owner_has_a_password_the_log_names_the_sign_in_page(tmp_path):
    env = {**os.environ, "KAKATONG_DATA_DIR": str(tmp_path), "KAKATONG_DEMO": "0"}
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    done = subprocess.run(
        [*flask, "set-password", "owner", "owner-pass-1"], cwd=ROOT, env=env, capture_output=True
    )
    assert done.returncode == 0, done.stderr
    process, lines = serve(tmp_path, free_port(), KAKATONG_DEMO="0")
    lines += stop(process)
    log = "\n".join(lines)
    assert urls(lines, "Back office") and all(
        u.endswith("/login") for u in urls(lines, "Back office")
    )
    assert "First run" not in log and "Demo card" not in log


def test_with_tls_off_the_log_names_plain_http_and_warns(tmp_path):
    port = free_port()
    process, lines = serve(tmp_path, port, KAKATONG_TLS="off")
    lines += stop(process)
    log = "\n".join(lines)
    assert "KAKATONG_TLS=off: no HTTPS" in log
    expected = welcome.lan_addresses() or ["127.0.0.1"]
    assert urls(lines, "Terminal page") == [f"http://{a}:{port}/terminal" for a in expected]
    assert "/tls" not in log and not (tmp_path / "tls").exists()


def test_https_that_cannot_start_is_said_with_what_to_do(tmp_path):
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        port = free_port()
        process, lines = serve(tmp_path, port, KAKATONG_HTTPS_PORT=str(taken))
        lines += stop(process)
    log = "\n".join(lines)
    assert f"HTTPS did not start on port {taken}" in log
    assert "set KAKATONG_HTTPS_PORT to a free one" in log
    assert urls(lines, "Terminal page") == [f"http://127.0.0.1:{port}/terminal"]


def test_a_loopback_only_server_says_other_devices_cannot_reach_it(tmp_path):
    process, lines = serve(tmp_path, free_port(), KAKATONG_HOST="127.0.0.1")
    lines += stop(process)
    log = "\n".join(lines)
    assert "other devices cannot reach it" in log
    assert all(u.startswith("http://127.0.0.1:") for u in urls(lines, "Terminal page"))
