"""The `fastapi-adk-store` command line: `fastapi-adk-store --help`."""

from .app import app, main

__all__ = ["app", "main"]
