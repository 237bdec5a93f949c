"""manage.py sync_templates [--organization CODE]: pull message templates from Meta."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.models import Organization
from crm.whatsapp.refusals import Refused
from crm.whatsapp.templates import accounts, sync_templates
from tenancy.context import tenant_context


class Command(BaseCommand):
    help = ("Pull every message template of each organization's WhatsApp Business Accounts "
            "from Meta (name, language, category, status, components) and upsert them.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organization", metavar="CODE",
                            help="only this organization (default: every active one)")

    def handle(self, *args: Any, organization: str | None = None, **options: Any) -> None:
        organizations = Organization.objects.filter(is_active=True).order_by("code")
        if organization:
            organizations = Organization.objects.filter(code=organization)
            if not organizations.exists():
                raise CommandError(f"No organization has the code {organization!r}.")
        failed = []
        for org in organizations:
            with tenant_context(org):
                if not organization and not accounts():
                    continue  # nothing to sync: no number names its account
                try:
                    report = sync_templates()
                except Refused as refusal:
                    failed.append(org.code or str(org.pk))
                    self.stderr.write(f"{org.code}: {refusal.detail}")
                    continue
            self.stdout.write(
                f"{org.code}: {len(report.accounts)} account(s), {report.created} created, "
                f"{report.updated} updated, {report.deleted} deleted"
            )
        if failed:
            raise CommandError(f"Sync failed for {', '.join(failed)} (see above).")
