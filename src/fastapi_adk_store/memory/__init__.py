"""ADK memory on PostgreSQL: ranked full-text search over a user's past events."""
