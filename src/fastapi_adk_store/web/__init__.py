"""HTTP only: the FastAPI plugin, its dependency providers, the routers, and how domain
errors, pages and ADK's JSON look on the wire."""
