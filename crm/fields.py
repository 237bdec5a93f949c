"""Field types for legacy wb-crm columns that Django's built-in fields would change."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import models
from django.utils import timezone


class UTCDateTimeField(models.DateTimeField):
    """A legacy `timestamp without time zone` holding UTC: aware in Python, unchanged on disk.

    Keeping the column type avoids rewriting (and locking) every large table on takeover.
    """

    def db_type(self, connection: Any) -> str | None:
        if connection.vendor == "postgresql":
            return "timestamp without time zone"
        return super().db_type(connection)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if isinstance(value, datetime) and timezone.is_naive(value):
            return value.replace(tzinfo=UTC)
        return value

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        value = super().get_db_prep_value(value, connection, prepared)
        if connection.vendor == "postgresql" and isinstance(value, datetime) and value.tzinfo:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value


class PgEnumField(models.CharField):
    """A legacy PostgreSQL enum column (a varchar elsewhere); values are its `choices`."""

    def __init__(self, *args: Any, enum_name: str, **kwargs: Any) -> None:
        self.enum_name = enum_name
        kwargs.setdefault("max_length", 32)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["enum_name"] = self.enum_name
        return name, path, args, kwargs

    def db_type(self, connection: Any) -> str | None:
        if connection.vendor == "postgresql":
            return self.enum_name
        return super().db_type(connection)


class PlainJSONField(models.JSONField):
    """A legacy `json` column (not `jsonb`), which psycopg2 already decodes."""

    def db_type(self, connection: Any) -> str | None:
        if connection.vendor == "postgresql":
            return "json"
        return super().db_type(connection)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or not isinstance(value, str) or connection.vendor == "postgresql":
            return value
        return super().from_db_value(value, expression, connection)


class VarCharField(models.CharField):
    """A legacy `character varying` with no length limit (`text` on backends without one)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.pop("max_length", None)
        super().__init__(*args, **kwargs)

    def _check_max_length_attribute(self, **kwargs: Any) -> list[Any]:
        return []

    def db_type(self, connection: Any) -> str | None:
        return "varchar" if connection.vendor == "postgresql" else "text"
