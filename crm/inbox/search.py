"""Customer search of the inbox: the customers whose name, phone or WhatsApp id contains a term."""
from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import BooleanField, F, Func, Q, Value


class _FoundBySearchFunction(Func):
    """`id = ANY(the ids crm.0018's wbcrm_search_customers(term) finds)`: the trigram indexes
    serve it even under row-level security, where a plain `LIKE` scans every customer."""

    output_field = BooleanField()

    def __init__(self, term: str) -> None:
        super().__init__(F("pk"), Value(term))

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        pk, term = (compiler.compile(e) for e in self.get_source_expressions())
        # A scalar sub-select (an InitPlan), so the search runs once, when the query runs: a bare
        # call of a stable function would also run while the planner estimates rows.
        search = f"(SELECT wbcrm_search_customers({term[0]}))::uuid[]"
        return f"{pk[0]} = ANY({search})", [*pk[1], *term[1]]


def matching(term: str) -> Any:
    """The filter for customers matching `term`, case-insensitive, anywhere in those fields."""
    if connection.vendor == "postgresql":
        return _FoundBySearchFunction(term)
    return Q(name__icontains=term) | Q(wa_id__icontains=term) | Q(phone_1__icontains=term)
