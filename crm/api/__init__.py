"""The REST API under /api/v1/: one resource per tenant table, each run as one organization."""
