"""The example's note keeper as an ADK agents-dir app (`adk web example_app/adk_agents`)."""

from . import agent

__all__ = ["agent"]
