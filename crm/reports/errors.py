"""The reports' refusals, each saying what to send instead."""
from __future__ import annotations


class BadReportQuery(ValueError):
    """A query parameter of a report is malformed (answered 400 naming it)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class ReportsNeedPostgreSQL(RuntimeError):
    """The roll-ups are kept by PostgreSQL triggers; SQLite has none."""

    def __init__(self) -> None:
        super().__init__("Reports need PostgreSQL (set DATABASE_URL): the SQLite try-out keeps "
                         "no roll-ups.")
