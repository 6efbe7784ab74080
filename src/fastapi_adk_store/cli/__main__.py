"""`python -m fastapi_adk_store.cli`."""

from .app import main

main()
