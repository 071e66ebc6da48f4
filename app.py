"""Kakatong: `python app.py` serves the app with waitress (initialising data/ first if empty).

`flask --app app <command>` finds create_app here and runs the admin commands (kakatong/cli.py).
"""

from kakatong import __version__, logs, welcome
from kakatong.cli import NotStarted
from kakatong.config import Config
from kakatong.factory import create_app, start_reader
from kakatong.serve import start_https
from kakatong.store import backup

__all__ = ["create_app"]

if __name__ == "__main__":
    import logging
    import signal
    import sys
    from pathlib import Path

    from waitress import create_server

    # `docker stop` sends SIGTERM; leave as cleanly as Ctrl-C does (every acknowledged
    # transaction is already committed).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # The log first (kakatong/logs.py): whatever the start says comes out in its format too.
    try:
        chosen = Config.from_env()
        log_ring = logs.configure(chosen.log_format, chosen.log_level)
    except ValueError as exc:
        sys.exit(f"Kakatong did not start: {exc}")
    try:
        app = create_app()
    except NotStarted as exc:
        sys.exit(f"Kakatong did not start: {exc}")
    config = app.config["KAKATONG"]
    app.extensions["kakatong.log_ring"] = log_ring  # the last warnings and errors: 系统状态
    if config.msr:
        start_reader(app)  # here, not in the factory: the admin commands must not take the port
    # Scheduled backups (data/backups and KAKATONG_BACKUP_DIR): the server's, not the commands'.
    if app.extensions["kakatong.backups"] is not None:
        app.extensions["kakatong.backups"].start()
    # Held while the server runs: `flask restore` refuses to write under a running server.
    server_lock = backup.hold_server_lock(Path(config.data_dir))
    # Bound first, so that what the log says is where the servers already listen. HTTP first:
    # a taken port ends the process before any HTTPS thread is left running.
    server = create_server(
        app, host=config.host, port=config.port, threads=config.threads, ident="kakatong"
    )
    https = start_https(app)
    try:
        log = logging.getLogger("kakatong")
        log.info(
            "Kakatong %s listening on %s port %s (HTTP)%s (data in %s)",
            __version__,
            "every interface" if config.host in welcome.WILDCARDS else config.host,
            config.port,
            f" and port {https.port} (HTTPS)" if https else "",
            config.data_dir,
        )
        with app.app_context():
            for line in welcome.lines(config, https.port if https else None):
                log.info("%s", line)
        server.run()
    finally:
        if https:
            https.stop()
