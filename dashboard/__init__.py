"""mixfarm's service: the REST API, the dashboard pages, server-sent events and /metrics."""
