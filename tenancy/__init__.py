"""Tenant isolation: the current organization, the scoped manager and their checks."""
