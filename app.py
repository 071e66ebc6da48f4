"""Kakatong: `python app.py` serves the app with waitress (initialising data/ first if empty).

`flask --app app <command>` finds create_app here and runs the admin commands (kakatong/cli.py).
"""

from kakatong.factory import create_app, start_reader

__all__ = ["create_app"]

if __name__ == "__main__":
    import logging
    import signal
    import sys

    from waitress import serve

    # `docker stop` sends SIGTERM; leave as cleanly as Ctrl-C does (every acknowledged
    # transaction is already committed).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = create_app()
    config = app.config["KAKATONG"]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if config.msr:
        start_reader(app)  # here, not in the factory: the admin commands must not take the port
    logging.getLogger("kakatong").info(
        "Kakatong serving on http://%s:%s/ (data in %s)", config.host, config.port, config.data_dir
    )
    serve(app, host=config.host, port=config.port, threads=config.threads, ident="kakatong")
