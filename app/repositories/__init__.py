"""All SQL of the service, one module per aggregate; each repository wraps a connection
handed in by a use case, never commits and returns frozen views (no driver records)."""
