"""The domain: what the shop's rules are, as plain functions over the store's models.

It owns the ledger (the only code that moves money or points), cards and PINs, staff and
passwords, actors and who may do what (actors.py), shop settings, terminal parameters, the audit
log, reports, the content of a receipt, input formats (formats.py), yuan <-> fen (money.py),
the refusal codes (errors.py) and export files. Every refusal is a `LedgerError` with a stable
code, translated once at each edge. It may import the store only: never Flask, never a device,
never the web; views, the API, the CLI and tests call it alike.
"""
