"""`manage.py tenancy_roles --owner OWNER --app APP`: the roles that make row-level security bind.

Run once per database by a superuser (e.g. DATABASE_URL=postgres://postgres@.../wbcrm). Then run
`migrate` as OWNER and serve as APP (DATABASE_URL=postgres://APP:...@.../wbcrm); `manage.py check`
warns when the serving connection would bypass the policies.
"""
from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from tenancy.roles import grant_legacy, setup_roles


class Command(BaseCommand):
    """Create or update the owner and app roles, and grant the app role row access."""

    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--owner", required=True, help="role that owns the schema and runs migrate"
        )
        parser.add_argument("--app", required=True, help="role the application serves as")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="database alias")
        parser.add_argument(
            "--legacy", default=None,
            help="wb-crm's login during the cut-over: keeps row access to the tables it had",
        )
        parser.add_argument(
            "--no-reassign", action="store_true",
            help="leave existing tables with their current owner",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        connection = connections[options["database"]]
        if connection.vendor != "postgresql":
            raise CommandError("Roles and row-level security need PostgreSQL; SQLite has neither.")
        if options["owner"] == options["app"]:
            raise CommandError(
                "--owner and --app must be two roles: the owner bypasses the policies."
            )
        # Roles and grants are DDL on the catalog, no tenant rows: nothing for the tenant layer.
        with transaction.atomic(using=options["database"]), connection.cursor() as cursor:
            setup_roles(
                cursor,
                connection.settings_dict["NAME"],
                owner=options["owner"],
                app=options["app"],
                # Passwords from the environment, never from the command line (ps, history).
                owner_password=os.environ.get("TENANCY_OWNER_PASSWORD"),
                app_password=os.environ.get("TENANCY_APP_PASSWORD"),
                reassign=not options["no_reassign"],
            )
            if options["legacy"]:
                try:
                    grant_legacy(cursor, options["legacy"], options["owner"])
                except ValueError as error:
                    raise CommandError(str(error)) from error
        self.stdout.write(self.style.SUCCESS(
            f"Roles ready: migrate as {options['owner']}, serve as {options['app']}."
        ))
