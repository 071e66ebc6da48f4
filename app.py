"""Kakatong: `python app.py` serves the app with waitress (initialising data/ first if empty).

`flask --app app <command>` finds create_app here and runs the admin commands (kakatong/cli.py).
"""

from kakatong import __version__, welcome
from kakatong.factory import create_app, start_reader

__all__ = ["create_app"]

if __name__ == "__main__":
    import logging
    import signal
    import sys

    from waitress import create_server

    # `docker stop` sends SIGTERM; leave as cleanly as Ctrl-C does (every acknowledged
    # transaction is already committed).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = create_app()
    config = app.config["KAKATONG"]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if config.msr:
        start_reader(app)  # here, not in the factory: the admin commands must not take the port
    # Bound first, so that what the log says is where the server already listens.
    server = create_server(
        app, host=config.host, port=config.port, threads=config.threads, ident="kakatong"
    )
    log = logging.getLogger("kakatong")
    log.info(
        "Kakatong %s listening on %s port %s (data in %s)",
        __version__,
        "every interface" if config.host in welcome.WILDCARDS else config.host,
        config.port,
        config.data_dir,
    )
    with app.app_context():
        for line in welcome.lines(config):
            log.info("%s", line)
    server.run()
