"""`manage.py tenancy_audit [--json]`: exit 1 when a row disagrees with a parent's organization."""
from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from tenancy.audit import audit

EXAMPLES = 5  # keys shown per finding in the text output; --json lists them all


class Command(BaseCommand):
    """Report NULL organization_ids and parent disagreements per tenant table, naming the rows."""

    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true",
                            help="print one JSON document listing every key")

    def _examples(self, keys: list[str]) -> str:
        shown = ", ".join(keys[:EXAMPLES])
        more = f" and {len(keys) - EXAMPLES} more" if len(keys) > EXAMPLES else ""
        return f" e.g. {shown}{more}" if keys else ""

    def handle(self, *args: Any, **options: Any) -> None:
        results = audit()
        total = sum(sum(r.disagreements.values()) for r in results)
        if options["json"]:
            self.stdout.write(json.dumps(
                {"tables": [asdict(r) for r in results], "disagreements": total}, indent=2
            ))
        else:
            for r in results:
                self.stdout.write(f"{r.table:<28} NULL organization: {r.null_rows:>8}  "
                                  f"({r.null_meaning})")
                for reason, keys in r.null_keys.items():
                    self.stdout.write(f"    {len(keys)} without organization, {reason}:"
                                      f"{self._examples(keys)}")
                for relation, rows in r.disagreements.items():
                    style = self.style.ERROR if rows else str
                    examples = self._examples(r.disagreement_keys[relation])
                    self.stdout.write(style(f"    disagrees with {relation}: {rows}{examples}"))
            summary = f"{total} row(s) disagree with a parent's organization."
            self.stdout.write(self.style.ERROR(summary) if total else self.style.SUCCESS(summary))
        if total:
            raise SystemExit(1)
