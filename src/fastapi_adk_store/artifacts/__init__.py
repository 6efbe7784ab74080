"""ADK artifacts on PostgreSQL: versions by key, bytes content-addressed and chunked."""
