"""The quick-start app built from the environment (ADK_STORE_*), for `uvicorn --workers`.

`uvicorn --workers N tests._http_app:app` imports this module in each worker process;
the test points ADK_STORE_DSN at its schema (`_helpers.search_path_dsn`).
"""

from __future__ import annotations

from fastapi_adk_store.web.plugin import ADKStore

from ._helpers import make_app

app = make_app(ADKStore())
