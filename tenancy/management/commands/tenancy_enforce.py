"""`manage.py tenancy_enforce`: organization_id NOT NULL wherever every row has an organization.

Online and re-runnable (see tenancy.enforce). Tables still holding rows without organization are
listed with the audit's reasons and stay nullable; shared and platform tables keep their NULLs.
Exit status 1 while any table is left nullable for want of an organization. Once none is, the
takeover's cut-over goes too (tenancy.cutover): crm.0002's derivation triggers, and the policies
and grants of wb-crm's login. Run it after wb-crm has stopped.
"""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from tenancy.enforce import enforce

EXAMPLES = 5


class Command(BaseCommand):
    """Set organization_id NOT NULL on every tenant table whose rows all have one."""

    help = __doc__

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError(
                "tenancy_enforce changes PostgreSQL tables online; this database is "
                f"{connection.vendor}, where the demo relies on the Python layer alone."
            )
        done = enforce(self.stdout.write)
        for table in done.already_not_null:
            self.stdout.write(f"  {table}: already NOT NULL")
        for table in done.nullable_by_design:
            self.stdout.write(f"  {table}: nullable by design (shared or platform rows)")
        for table, reasons in done.left_nullable.items():
            rows = sum(len(keys) for keys in reasons.values())
            self.stdout.write(self.style.ERROR(
                f"  {table}: left nullable, {rows} row(s) without organization:"
            ))
            for reason, keys in reasons.items():
                more = f" and {len(keys) - EXAMPLES} more" if len(keys) > EXAMPLES else ""
                self.stdout.write(f"      {len(keys)} {reason}: {', '.join(keys[:EXAMPLES])}{more}")
        if done.left_nullable:
            self.stdout.write(self.style.ERROR(
                f"{len(done.left_nullable)} table(s) left nullable: give those rows an "
                "organization (inside unscoped()) or delete them, then run tenancy_enforce again."
            ))
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS("organization_id is NOT NULL on every tenant table "
                                             "that must have one."))
