"""Errors raised when code would cross or ignore tenant boundaries."""


class TenantNotSetError(RuntimeError):
    """A tenant-scoped query or write ran with no organization active."""


class CrossTenantError(RuntimeError):
    """A write would put a row in, or point it at, another organization."""
