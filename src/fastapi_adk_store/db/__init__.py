"""PostgreSQL only, no ADK types: pools, the embedded server, identifiers, JSON text,
statements with named parameters, and driver errors translated to the package's."""
