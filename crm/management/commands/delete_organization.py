"""manage.py delete_organization CODE [--dry-run]: platform staff delete an organization and
everything it holds (every tenant table, in batches, children first, and its media files)."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.lifecycle import deletion
from crm.models import Organization


class Command(BaseCommand):
    help = ("Delete the organization with this code: every row of every tenant table, its media "
            "files, then the organization. --dry-run only counts what would go.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("code", help="The organization's code.")
        parser.add_argument("--dry-run", action="store_true",
                            help="Print the rows per table that would go; change nothing.")
        parser.add_argument("--batch", type=int, default=deletion.BATCH,
                            help="Rows deleted per transaction.")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(code=options["code"]).first()
        if organization is None:
            raise CommandError(f"No organization has the code {options['code']!r}: list them "
                               "with GET /api/v1/platform/organizations/.")
        if options["dry_run"]:
            found = deletion.counts(organization)
            for table, count in found.items():
                self.stdout.write(f"{table}: {count}")
            self.stdout.write(f"Dry run: {sum(found.values())} would be deleted from "
                              f"{organization.code}; nothing was changed.")
            return
        done = deletion.delete_organization(
            organization, batch=options["batch"],
            progress=lambda table, count: self.stdout.write(f"{table}: {count} deleted"))
        self.stdout.write(f"Organization {organization.code} deleted: {done['media files']} "
                          f"media file(s), {sum(done.values()) - done['media files']} row(s).")
