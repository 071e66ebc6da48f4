"""The servers of one process: plain HTTP with waitress, and HTTPS for the shop's network.

waitress has no TLS, so HTTPS is served beside it by cheroot (CherryPy's WSGI server: pure
Python, a thread pool like waitress's, TLS through the standard library's `ssl`), on
`KAKATONG_HTTPS_PORT`, with the certificate of tls.py. Both serve the same app object, so the
print queues, the reader's thread and the swipe streams are the same whichever port a page
came through. app.py starts both; the tests start the same classes on free ports.
"""

from __future__ import annotations

import logging
import ssl
import threading

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from cheroot.workers.threadpool import ThreadPool, WorkerThread
from flask import Flask

from .config import Config
from .tls import Certificates, shop_names

log = logging.getLogger("kakatong.https")

# cheroot shakes hands in its accepting thread: a client that opens a connection and says
# nothing holds the next ones this long at most (a device on the shop's network answers in
# milliseconds).
HANDSHAKE_SECONDS = 3.0


class _Adapter(BuiltinSSLAdapter):
    """cheroot's adapter over the certificates' current context (a renewal brings a new one),
    with a short handshake."""

    def __init__(self, certificates: Certificates) -> None:
        context = certificates.context()  # makes the files first, on a first start
        super().__init__(str(certificates.server_path), str(certificates.directory / "server.key"))
        self.certificates = certificates
        self.context = context

    def wrap(self, sock):
        current = self.certificates.context()
        if current is not self.context:
            self.context = current  # the setter adds cheroot's SNI callback
        idle = sock.gettimeout()
        sock.settimeout(HANDSHAKE_SECONDS)
        wrapped, environ = super().wrap(sock)
        if wrapped is not None:
            wrapped.settimeout(idle)
        return wrapped, environ


class _DaemonPool(ThreadPool):
    """Workers that never keep the process alive: a tablet's swipe stream (open for up to a
    minute) must not hold up a stop; every transaction is committed before it is answered."""

    def _spawn_worker(self):
        worker = WorkerThread(self.server)
        worker.name = f"kakatong-https {worker.name}"
        worker.daemon = True
        worker.start()
        return worker


class _Server(wsgi.Server):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.requests.__class__ = _DaemonPool  # same pool, its workers started as daemons

    def error_log(self, msg="", level=20, traceback=False):
        # A device that does not trust the shop's CA yet drops every handshake: that is the
        # trust page's business, not a line per attempt in the shop's log.
        if traceback:
            log.error("%s", msg, exc_info=True)
        else:
            log.debug("%s", msg)


class HttpsServer:
    """cheroot on (host, port) with the shop's certificate, serving in a thread of its own.

    Bound by the constructor (an OSError says the port is taken), so that what the log says
    is where it already listens."""

    def __init__(
        self,
        app: Flask,
        certificates: Certificates,
        host: str,
        port: int,
        threads: int,
    ) -> None:
        self.server = _Server(
            (host, port), app, numthreads=threads, server_name="kakatong", timeout=30
        )
        self.certificates = certificates
        self.server.ssl_adapter = _Adapter(certificates)
        self.server.prepare()
        self.port: int = self.server.bind_addr[1]
        self.thread = threading.Thread(target=self._serve, name="kakatong-https", daemon=True)

    def _serve(self) -> None:
        try:
            self.server.serve()
        except Exception:
            log.exception("the HTTPS server stopped")

    def start(self) -> HttpsServer:
        self.thread.start()
        return self

    def stop(self, seconds: float = 2.0) -> None:
        """Stop serving, waiting `seconds` at most for the requests in hand (cheroot's own stop
        waits on an open swipe stream until it ends)."""
        self.certificates.stop()
        stopper = threading.Thread(target=self.server.stop, daemon=True)
        stopper.start()
        stopper.join(seconds)


def start_https(app: Flask) -> HttpsServer | None:
    """The HTTPS server for this app, when KAKATONG_TLS is on: the shop's CA and the server's
    certificate made or renewed first, then kept current by a watching thread. Whether it
    serves, and why not, goes into the app's TlsState (the redirect, /tls, the home page)."""
    config: Config = app.config["KAKATONG"]
    state = app.extensions["kakatong.tls"]
    if not config.tls:
        log.warning(
            "KAKATONG_TLS=off: no HTTPS. Passwords and card PINs cross the network in clear "
            "unless a proxy in front of this server provides HTTPS"
        )
        return None
    certificates = Certificates(state.directory, lambda: shop_names(config))
    try:
        server = HttpsServer(app, certificates, config.host, config.https_port, config.threads)
    except (OSError, ssl.SSLError, ValueError) as exc:
        state.problem = f"{type(exc).__name__}: {exc}"
        log.error(
            "HTTPS did not start on port %s (%s). Other devices get no page until it does: "
            "free the port or set KAKATONG_HTTPS_PORT to a free one and restart "
            "(KAKATONG_TLS=off serves plain HTTP instead, for a shop behind its own proxy)",
            config.https_port,
            state.problem,
        )
        return None
    state.certificate = certificates.info
    state.serving = True
    state.https_port = server.port
    certificates.watch()
    return server.start()
