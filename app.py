"""Kakatong: `python app.py` serves the app with waitress (initialising data/ first if empty).

`flask --app app <command>` finds create_app here and runs the admin commands (kakatong/cli.py).
"""

from kakatong import create_app

__all__ = ["create_app"]

if __name__ == "__main__":
    import logging

    from waitress import serve

    app = create_app()
    config = app.config["KAKATONG"]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("kakatong").info(
        "Kakatong serving on http://%s:%s/ (data in %s)", config.host, config.port, config.data_dir
    )
    serve(app, host=config.host, port=config.port, threads=config.threads, ident="kakatong")
