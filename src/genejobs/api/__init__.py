"""The REST API: the contract's routes, one error mapping, the app factory."""

from genejobs.api.app import create_app

__all__ = ["create_app"]
