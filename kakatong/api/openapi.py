"""The OpenAPI 3 document of /api/v1, served at /api/openapi.json."""

from __future__ import annotations


def document() -> dict:
    return {"openapi": "3.0.3", "info": {"title": "Kakatong API", "version": "1"}, "paths": {}}
