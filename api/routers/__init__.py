"""One router module per resource, mirroring the URL space under /api/v1."""
