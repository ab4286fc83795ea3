"""The service's HTTP routes, one module per part of the API (ranking, events, demo, operations)."""
