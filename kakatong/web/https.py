"""HTTPS as the pages see it: plain HTTP from the shop's network sent to HTTPS, the shop's CA
certificate to download, and the page that helps a device trust it (/tls).

A PIN or a password typed on a tablet must not cross the Wi-Fi in clear, and a page opened on
`http://<box>:8000` gets no secure context (no service worker, no WebCrypto). So while the
HTTPS server runs, a plain-HTTP request from any address but the box's own (loopback: the
counter's kiosk browser on the box, admin tools) is redirected to the same URL on the HTTPS
port, except what a device needs before it trusts the shop's CA: `/tls`, `/ca.crt`, `/ca.pem`,
their static files and the health checks. A request with a body (POST, PUT…) is refused
(`https_required`) rather than redirected: its PIN or password has crossed in clear already.

`TlsState` (app.extensions["kakatong.tls"]) is what the server started with; the glue fills it
(factory.py, app.py).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import qrcode
import qrcode.image.svg
from cryptography import x509
from cryptography.x509.oid import NameOID
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
)
from flask_babel import gettext as _

from ..domain.errors import LedgerError

bp = Blueprint("https", __name__)

# What plain HTTP still answers from the shop's network.
PLAIN_PATHS = ("/tls", "/ca.crt", "/ca.pem", "/api/v1/health", "/healthz", "/readyz")
PLAIN_STATIC = ("backoffice.css", "backoffice.js", "tls.js")


@dataclass
class TlsState:
    """HTTPS as this process serves it."""

    enabled: bool  # KAKATONG_TLS
    http_port: int
    https_port: int
    directory: Path  # data/tls: ca.crt, the server's certificate
    hosts: Callable[[], list[str]] = field(default=lambda: [])  # the box's LAN addresses
    serving: bool = False  # the HTTPS server listens
    problem: str = ""  # why it did not start, though enabled (empty: not started here)
    # The server's certificate now (names, not_after), or None: asked each time, since it
    # renews itself.
    certificate: Callable[[], object | None] = field(default=lambda: None)

    def ca_pem(self) -> bytes | None:
        path = self.directory / "ca.crt"
        return path.read_bytes() if path.exists() else None

    def warning(self) -> str | None:
        """What the back office's home page says while the shop's network is not served over
        HTTPS: turned off (PINs may cross it in clear), or failed to start."""
        if not self.enabled:
            return _(
                "HTTPS 已关闭（KAKATONG_TLS=off）：除非本店的代理提供 HTTPS，密码和卡密码将以明文经过本店网络。"  # noqa: E501
            )
        if self.problem:
            return _(
                "HTTPS 未能启动（%(problem)s）：其他设备暂时无法访问，请联系管理员。",
                problem=self.problem,
            )
        return None


@bp.app_context_processor
def _templates():
    return {"tls_state": state}


def state() -> TlsState:
    return current_app.extensions["kakatong.tls"]


def _loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False


def _host_only(host: str) -> str:
    """The Host header without its port ([v6] keeps its brackets)."""
    if host.startswith("["):
        return host[: host.index("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _request_host() -> str:
    """The host the client asked for; where its Host header is missing or not a host name
    (werkzeug gives "", waitress's stand-in is waitress.invalid), the box's first address on
    the network."""
    host = _host_only(request.host)
    if not host or host.endswith(".invalid"):
        return next(iter(state().hosts()), "127.0.0.1")
    return host


def _refuse(code: str):
    error = LedgerError(code)
    if request.path.startswith("/api/"):
        return jsonify(error.as_dict()), error.status
    return render_template("error.html", error=error, status=error.status), error.status


@bp.before_app_request
def _to_https():
    tls = current_app.extensions.get("kakatong.tls")
    if tls is None or not tls.enabled or request.is_secure or _loopback(request.remote_addr):
        return None
    if request.path in PLAIN_PATHS or (
        request.endpoint == "static" and (request.view_args or {}).get("filename") in PLAIN_STATIC
    ):
        return None
    if not tls.serving:
        # HTTPS is on but did not start (its port taken, say): nothing crosses the network in
        # clear for it. The log and /tls say why; only KAKATONG_TLS=off serves plain HTTP.
        return _refuse("https_unavailable")
    if request.method not in ("GET", "HEAD"):
        # What it carries (a PIN, a password) has crossed the network in clear already: a
        # redirect would have the client send it again, and go on sending it in clear each
        # time. Refused, so that a client set up with an http:// address is put right.
        return _refuse("https_required")
    path = quote(request.path, safe="/:@!$&'()*+,;=~")
    query = request.query_string.decode("latin-1")
    target = f"https://{_request_host()}:{tls.https_port}{path}{'?' + query if query else ''}"
    return redirect(target, 308)


def fingerprint(pem: bytes) -> str:
    """SHA-256 of the certificate, as a device's certificate details show it (AB:CD:…)."""
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem.decode())).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _ca_or_404() -> bytes:
    pem = state().ca_pem()
    if pem is None:
        abort(404)
    return pem


@bp.get("/ca.crt")
def ca_crt():
    """The CA certificate, DER: what Android, iOS and Windows install from a download."""
    der = ssl.PEM_cert_to_DER_cert(_ca_or_404().decode())
    return Response(
        der,
        mimetype="application/x-x509-ca-cert",
        headers={"Content-Disposition": 'attachment; filename="kakatong-ca.crt"'},
    )


@bp.get("/ca.pem")
def ca_pem():
    """The same certificate as PEM text (Linux: certutil, update-ca-certificates)."""
    return Response(
        _ca_or_404(),
        mimetype="application/x-pem-file",
        headers={"Content-Disposition": 'attachment; filename="kakatong-ca.pem"'},
    )


def _common_name(pem: bytes) -> str:
    """The CA's name as a device's certificate list shows it (iOS asks to trust it by name)."""
    names = x509.load_pem_x509_certificate(pem).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _qr_data_uri(text: str) -> str:
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    return "data:image/svg+xml;base64," + base64.b64encode(image.to_string()).decode()


@bp.get("/tls")
def trust():
    """Trusting the shop's certificate, once per device: the download, a QR code of this page
    for the next device, the steps per system, and a check of this device (tls.js)."""
    tls = state()
    pem = tls.ca_pem() if tls.enabled else None
    host = _request_host()
    if _loopback(host.strip("[]")) or host == "localhost":
        # Seen on the box itself: the QR code and the links name its address on the network.
        host = next(iter(tls.hosts()), host)
    plain = f"http://{host}:{tls.http_port}"
    secure = f"https://{host}:{tls.https_port}"
    page = render_template(
        "tls.html",
        tls=tls,
        pem=pem,
        fingerprint=fingerprint(pem) if pem else None,
        page_url=f"{plain}/tls",
        qr=_qr_data_uri(f"{plain}/tls") if pem else None,
        secure=secure,
        secure_here=request.is_secure,
        probe=f"{secure}/api/v1/health",
        ca_name=_common_name(pem) if pem else "",
        server=tls.certificate() if tls.serving else None,
    )
    response = Response(page, mimetype="text/html")
    # tls.js asks the HTTPS port whether this device trusts it: the one origin it may reach
    # besides its own.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {secure}; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    )
    return response
