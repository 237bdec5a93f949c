"""manage.py rebuild_report_stats [--organization CODE] [--from DAY] [--to DAY]: recompute the
report roll-ups of a range from the raw rows (after the migration, or a time zone change)."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.models import Organization
from crm.reports.errors import BadReportQuery, ReportsNeedPostgreSQL
from crm.reports.period import MAX_DAYS, period_from
from crm.reports.rollups import rebuild
from tenancy.context import tenant_context


class Command(BaseCommand):
    help = ("Recompute daily_message_stats, response_times and the funnels of the campaign runs "
            "created in a range of days (the organization's own; default the last "
            f"{MAX_DAYS} days) from messages and job_status. Messages wait while it runs.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organization", metavar="CODE",
                            help="only this organization (default: every active one)")
        parser.add_argument("--from", dest="first", metavar="YYYY-MM-DD")
        parser.add_argument("--to", dest="last", metavar="YYYY-MM-DD")

    def handle(self, *args: Any, organization: str | None = None, first: str | None = None,
               last: str | None = None, **options: Any) -> None:
        organizations = Organization.objects.filter(is_active=True).order_by("code")
        if organization:
            organizations = Organization.objects.filter(code=organization)
            if not organizations.exists():
                raise CommandError(f"No organization has the code {organization!r}.")
        for org in organizations:
            with tenant_context(org):
                try:
                    period = period_from({"from": first or "", "to": last or ""}, MAX_DAYS)
                    done = rebuild(period)
                except (BadReportQuery, ReportsNeedPostgreSQL) as error:
                    raise CommandError(str(error)) from None
            self.stdout.write(f"{org.code}: {done.days} day(s) from {period.first} to "
                              f"{period.last} ({period.time_zone}), {done.runs} campaign run(s)")
