"""The JSON API blueprint (/api/v1) and its OpenAPI document (/api/openapi.json)."""

from .routes import bp

__all__ = ["bp"]
