"""manage.py replay_webhooks [--failed] [--since TIME] [--id N ...]: put kept webhook deliveries
back in the workers' queue (after fixing what made them fail); --now processes them here."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from crm.webhooks.deliveries import process_pending, replay


def _moment(text: str) -> datetime:
    """An ISO date or date-time (UTC unless it says otherwise)."""
    moment = parse_datetime(text)
    if moment is None:
        day = parse_date(text)
        if day is None:
            raise CommandError(f"--since {text!r}: give an ISO date or time, like 2026-12-04T10:00")
        moment = datetime(day.year, day.month, day.day)
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)


class Command(BaseCommand):
    help = ("Replay kept WhatsApp webhook deliveries: all of them by default, the failed ones "
            "(--failed), "
            "those received since a time (--since), or chosen ones (--id). Messages already "
            "stored are not stored again (de-duplicated by wamid).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--failed", action="store_true", help="only deliveries kept as failed")
        parser.add_argument("--since", type=_moment, metavar="TIME",
                            help="only deliveries received at or after TIME (ISO 8601)")
        parser.add_argument("--id", type=int, action="append", default=[], dest="ids",
                            metavar="N", help="only delivery N (repeatable)")
        parser.add_argument("--now", action="store_true",
                            help="process them in this command instead of leaving them to workers")

    def handle(self, *args: Any, failed: bool = False, since: datetime | None = None,
               ids: list[int] | None = None, now: bool = False, **options: Any) -> None:
        queued = replay(failed_only=failed, since=since, ids=ids or ())
        self.stdout.write(f"{queued} delivery(ies) queued again.")
        if now:
            self.stdout.write(f"{process_pending()} delivery(ies) processed.")
