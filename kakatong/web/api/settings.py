"""The shop's settings (参数): read and change.

Each route is declared once with `@operation` (contract.py): its route, guard and contract.
"""

from __future__ import annotations

from flask import g, jsonify

from ...domain import settings as shop_settings
from ...domain.actors import CAN_CHANGE_SETTINGS
from .contract import body, operation
from .schemas import json_response, ref_to, request_body


@operation(
    "GET",
    "/v1/settings",
    "settings",
    "Read the settings (参数)",
    "Every setting with its current value. The money settings are integer fen (`*_fen`).",
    roles=CAN_CHANGE_SETTINGS,
    ok=json_response(ref_to("Settings"), "the settings"),
)
def get_settings():
    return jsonify(shop_settings.load())


@operation(
    "PUT",
    "/v1/settings",
    "settings",
    "Change settings",
    "Changes the settings given (any non-empty subset), all or none.",
    roles=CAN_CHANGE_SETTINGS,
    body=request_body(ref_to("SettingsChange"), {"pin_attempt_limit": 5}),
    errors=("bad_request", "invalid_setting"),
    ok=json_response(ref_to("Settings"), "every setting after the change"),
)
def put_settings():
    return jsonify(shop_settings.update(body(any_field=True), g.actor))
