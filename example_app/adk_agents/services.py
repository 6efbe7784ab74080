"""Loaded by `adk web` / `adk api_server` from the agents dir: makes `adkstore://` known."""

from fastapi_adk_store.adk_registry import register

register()
