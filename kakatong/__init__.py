"""Kakatong: a self-hosted membership-card appliance (stored value and loyalty points).

The package is four layers, each a folder, and the glue at the top:

- `store/`: the database (connection, models, code tables, schema and migrations);
- `domain/`: the rules, plain functions over the models (the ledger moves money and points);
- `devices/`: the card reader and the receipt printer, on threads of their own;
- `web/`: the API, the terminal page and the back office, as Flask blueprints;
- the glue: `factory.py` (create_app), `config.py` (KAKATONG_* -> Config), `cli.py` (the
  admin commands), `logs.py` (the log's format and its last errors). It may import every
  layer; nothing imports it.

Imports point one way, web -> devices -> domain -> store (tests/test_layers.py holds it). This
module holds only the version, so that any module may read it.
"""

__version__ = "0.1.0"
