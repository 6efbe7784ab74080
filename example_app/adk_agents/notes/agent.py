"""`root_agent` for ADK's loader: the same agent the FastAPI example serves."""

from example_app.agent import build_agent

root_agent = build_agent()
