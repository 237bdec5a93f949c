"""manage.py fire_due_automation [--every SECONDS]: fire the delayed automation triggers that are
due, as beat does; `bin/run` loops it where no broker runs beat."""
from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from crm.automation.delayed import fire_due


class Command(BaseCommand):
    help = ("Fire (or cancel, after re-checking) the due no_agent_reply and no_customer_reply "
            "items of every organization; with --every, again and again until stopped.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--every", type=float, default=0, metavar="SECONDS",
                            help="repeat every SECONDS (default: once)")

    def handle(self, *args: Any, every: float = 0, **options: Any) -> None:
        while True:
            fired = fire_due(timezone.now())
            if fired or not every:
                self.stdout.write(f"{fired} delayed automation rule(s) fired.")
            if not every:
                return
            time.sleep(every)  # a poll for a demo without beat, not a synchronisation
