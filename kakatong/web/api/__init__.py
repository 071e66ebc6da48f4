"""The JSON API blueprint (/api/v1) and its OpenAPI document (/api/openapi.json).

contract.py holds the blueprint and `@operation`, with which each route module below declares
its routes once (route, role guard and contract); importing them here registers them, in the
order the document lists them. openapi.py builds the document from those declarations,
schemas.py holds its shared schemas, records.py the JSON records the views answer.
"""

from .contract import bp

# Registered by being imported, in this order: the order of the document's paths.
# isort: off
from . import service, session, staff, terminals, branches, cards  # noqa: E402, F401
from . import transactions, batch, offline, settings  # noqa: E402, F401
# isort: on

__all__ = ["bp"]
