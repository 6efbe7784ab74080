"""ADK sessions on PostgreSQL: statements (sql), records, the keyed store, the seed's
record API (seed) and ADK's `BaseSessionService` (service)."""
