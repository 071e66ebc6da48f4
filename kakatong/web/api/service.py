"""The service's own routes: this API's OpenAPI document, the health check and the version.

Each route is declared once with `@operation` (contract.py): its route, guard and contract.
"""

from __future__ import annotations

from flask import g, jsonify

from ... import __version__
from ...domain import settings as shop_settings
from ...domain.actors import ALL_ROLES
from .contract import operation
from .openapi import document
from .schemas import SETTING_PROPERTIES, enum_schema, json_response, object_schema, string_schema


@operation(
    "GET",
    "/openapi.json",
    "service",
    "This document",
    "The OpenAPI 3.0.3 document of the API.",
    roles=None,
    ok=json_response({"type": "object"}, "the document"),
)
def openapi():
    return jsonify(document())


@operation(
    "GET",
    "/v1/health",
    "service",
    "Health check",
    "Answers while the server runs; touches no data.",
    roles=None,
    ok=json_response(
        object_schema({"status": enum_schema(["ok"])}, ["status"]), "the server is running"
    ),
)
def health():
    return jsonify({"status": "ok"})


@operation(
    "GET",
    "/v1/version",
    "service",
    "Version (版本信息)",
    "What the POS's version screen shows: the software version, the caller's "
    "terminal and the merchant.",
    roles=ALL_ROLES,
    ok=json_response(
        object_schema(
            {
                "version": string_schema(None, description="the software's version"),
                "terminal_id": string_schema(None, description="the caller's 终端号"),
                "merchant_id": SETTING_PROPERTIES["merchant_id"],
                "merchant_name": SETTING_PROPERTIES["merchant_name"],
            },
            ["version", "terminal_id", "merchant_id", "merchant_name"],
        ),
        "the version",
    ),
)
def version():

    shop = shop_settings.load()
    return jsonify(
        {
            "version": __version__,
            "terminal_id": g.actor.terminal_id,
            "merchant_id": shop["merchant_id"],
            "merchant_name": shop["merchant_name"],
        }
    )
