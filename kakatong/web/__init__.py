"""The web: three Flask blueprints and what they share.

`api/` is the JSON API under /api (and its OpenAPI document), `terminal/` the cashier's page at
/terminal (its screens are static/terminal/), `backoffice/` the owner's pages at /; sessions.py
keeps API tokens and back-office sessions, i18n.py the message catalogue, observe.py each
request's and each transaction's line in the log, health.py /healthz and /readyz. A view reads
the request, calls one domain function and renders its record or its LedgerError. The web may
import the devices, the domain and the store, never the glue (factory, config, CLI).
"""
