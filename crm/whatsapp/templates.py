"""Message templates per organization: sync from Meta, create and delete on Meta, parameters.

Templates live on WhatsApp Business Accounts (WABA); an organization's accounts are the
`whatsapp_business_account_id`s of its active numbers, each reached with one of its numbers'
tokens. Rows are the organization's own, unique per (name, language); shared rows (no
organization) are read by every organization and never written here.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crm.models import Template, WhatsAppNumber
from crm.whatsapp.client import GraphClient
from crm.whatsapp.errors import GraphError, NumberUnavailable
from crm.whatsapp.refusals import MetaRefused, Refused
from crm.whatsapp.schemas import MessageContent
from crm.whatsapp.template_parameters import TemplateParameterError, validate_parameters
from tenancy.context import get_current_organization_id

__all__ = [
    "SyncReport", "TemplateParameterError", "check_template", "create_template", "delete_template",
    "fetch_account_templates", "find_template", "store_account_templates", "sync_templates",
    "validate_parameters", "validate_send",
]

FIELDS = "name,language,status,category,components"
PAGE_SIZE = 100
MAX_PAGES = 1000  # 100,000 templates: far above Meta's per-account limit; stops a cursor loop
NAME = re.compile(r"[a-z0-9_]{1,512}")
LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Za-z]{2,4})?")
CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")


@dataclass
class SyncReport:
    """What one sync did, per account and in total."""

    accounts: list[str] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    deleted: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"accounts": self.accounts, "created": self.created, "updated": self.updated,
                "deleted": self.deleted}


def find_template(name: str, language: str) -> Template | None:
    """The active organization's template of that name and language, else the shared one."""
    return (Template.objects.filter(template_name=name, language=language)
            .order_by(F("organization_id").asc(nulls_last=True)).first())


def validate_send(name: str, language: str, components: Any) -> Template | None:
    """Check a template send's parameters against the stored template, when there is one.

    A template not stored here (not synced yet) is left to Meta to judge.
    """
    template = find_template(name, language)
    if template is not None:
        validate_parameters(template, components)
    return template


def check_template(content: MessageContent) -> Template | None:
    """Refuse (400, before Meta is called) a template send whose parameters do not fit the
    organization's (or the shared) stored template of that name and language."""
    template = content.template.model_dump(mode="json", exclude_none=True)
    try:
        return validate_send(template["name"], template["language"]["code"],
                             template.get("components"))
    except TemplateParameterError as error:
        raise Refused(400, "template_parameters", "The template's parameters do not fit it: "
                      + " ".join(error.problems), field="template",
                      problems=error.problems) from None


def accounts() -> dict[str, WhatsAppNumber]:
    """The active organization's WABA ids, each with a number (that has a token) to call it."""
    numbers = (WhatsAppNumber.objects.filter(is_active=True)
               .exclude(whatsapp_business_account_id=None).exclude(access_token=None)
               .order_by("created_at", "phone_number_id"))
    found: dict[str, WhatsAppNumber] = {}
    for number in numbers:
        found.setdefault(number.whatsapp_business_account_id, number)
    return found


def _account(waba_id: str | None) -> tuple[str, WhatsAppNumber]:
    """The account a template goes to: `waba_id`, or the organization's only one."""
    known = accounts()
    if waba_id:
        if waba_id not in known:
            raise Refused(404, "account_not_found", "None of your active WhatsApp numbers (with "
                          "an access token) belongs to this WhatsApp Business Account.",
                          field="whatsapp_business_account_id")
        return waba_id, known[waba_id]
    if not known:
        raise Refused(409, "no_account", "Set whatsapp_business_account_id (and the access "
                      "token) on one of your active WhatsApp numbers first.")
    if len(known) > 1:
        raise Refused(400, "several_accounts", "Your numbers belong to several WhatsApp "
                      f"Business Accounts ({', '.join(sorted(known))}): name one in "
                      "whatsapp_business_account_id.", field="whatsapp_business_account_id")
    return next(iter(known.items()))


def _client(number: WhatsAppNumber) -> GraphClient:
    try:
        return GraphClient(number)
    except NumberUnavailable as error:
        raise Refused(409, "number_unavailable", str(error)) from None


def _pages(client: GraphClient, waba_id: str) -> Iterator[dict[str, Any]]:
    """Every template of the account, following Meta's `after` cursor page by page.

    The cursor is sent on our own URL rather than following `paging.next`, which carries the
    access token in its query string (and would put it in the call log).
    """
    params: dict[str, Any] = {"fields": FIELDS, "limit": PAGE_SIZE}
    for _ in range(MAX_PAGES):
        answer = client.request("GET", waba_id, "message_templates", params=params)
        answer = answer if isinstance(answer, dict) else {}
        yield from (item for item in answer.get("data") or [] if isinstance(item, dict))
        paging = answer.get("paging") if isinstance(answer.get("paging"), dict) else {}
        after = (paging.get("cursors") or {}).get("after")
        if not paging.get("next") or not after:
            return
        params = {**params, "after": after}
    raise Refused(502, "meta_paging", f"Meta kept paging past {MAX_PAGES} pages of templates "
                  f"for account {waba_id}; sync stopped.")


def _body(item: dict[str, Any]) -> dict[str, Any]:
    """The template object kept in template_body (what wb-crm kept)."""
    return {key: item.get(key) for key in ("name", "language", "status", "category",
                                           "components") if item.get(key) is not None}


def _own(waba_id: str | None = None) -> Any:
    rows = Template.objects.filter(organization_id=get_current_organization_id())
    return rows.filter(whatsapp_business_account_id=waba_id) if waba_id else rows


def sync_templates() -> SyncReport:
    """Pull every template of the active organization's accounts from Meta and upsert it.

    A template an account no longer lists is deleted here (only rows that came from that
    account; shared rows and rows without an account are left alone).
    """
    report = SyncReport()
    known = accounts()
    if not known:
        raise Refused(409, "no_account", "Set whatsapp_business_account_id (and the access "
                      "token) on one of your active WhatsApp numbers first.")
    for waba_id, number in known.items():
        try:
            items = list(_pages(_client(number), waba_id))
        except GraphError as error:
            raise MetaRefused(error) from None
        _store(waba_id, items, report)
        report.accounts.append(waba_id)
    return report


def fetch_account_templates(client: GraphClient, waba_id: str) -> list[dict[str, Any]]:
    """Every template of one account, from Meta (a GraphError as raised)."""
    return list(_pages(client, waba_id))


def store_account_templates(waba_id: str, items: list[dict[str, Any]]) -> SyncReport:
    """Upsert one account's fetched templates (`fetch_account_templates`) as the organization's."""
    report = SyncReport(accounts=[waba_id])
    _store(waba_id, items, report)
    return report


def _store(waba_id: str, items: list[dict[str, Any]], report: SyncReport) -> None:
    """Upsert one account's templates (one transaction), delete those it no longer has."""
    now = timezone.now()
    with transaction.atomic():
        existing = {(t.template_name, t.language): t for t in _own().select_for_update()}
        seen = set()
        for item in items:
            name, language = item.get("name"), item.get("language")
            if not isinstance(name, str) or not isinstance(language, str):
                continue
            seen.add((name, language))
            values = {
                "category": item.get("category"), "status": item.get("status"),
                "template_body": _body(item), "facebook_template_id": item.get("id"),
                "whatsapp_business_account_id": waba_id, "updated_at": now,
            }
            row = existing.get((name, language))
            if row is None:
                Template.objects.create(template_name=name, language=language,
                                        template_vars={}, created_at=now, **values)
                report.created += 1
            else:
                for key, value in values.items():
                    setattr(row, key, value)
                row.save(update_fields=list(values))
                report.updated += 1
        gone = [t.pk for key, t in existing.items()
                if key not in seen and t.whatsapp_business_account_id == waba_id]
        if gone:
            report.deleted += Template.objects.filter(pk__in=gone).delete()[0]


def create_template(name: str, language: str, category: str, components: list[dict[str, Any]],
                    waba_id: str | None = None) -> Template:
    """Create the template on Meta (it goes to review), then store it for the organization."""
    problems = []
    if not isinstance(name, str) or not NAME.fullmatch(name):
        problems.append("name: lower-case letters, digits and underscores only (Meta's rule).")
    if not isinstance(language, str) or not LANGUAGE.fullmatch(language):
        problems.append("language: a code such as en_US or pt_BR.")
    if category not in CATEGORIES:
        problems.append(f"category: one of {', '.join(CATEGORIES)}.")
    if not isinstance(components, list) or not any(
        isinstance(c, dict) and str(c.get("type", "")).upper() == "BODY" for c in components
    ):
        problems.append("components: a list with at least a BODY component.")
    if problems:
        raise Refused(400, "invalid_template", "The template is not valid: " + " ".join(problems))
    if _own().filter(template_name=name, language=language).exists():
        raise Refused(409, "template_exists", f"Your organization already has {name} in "
                      f"{language}: delete it first, or sync to refresh it.", field="name")
    waba_id, number = _account(waba_id)
    payload = {"name": name, "language": language, "category": category,
               "components": components}
    try:
        answer = _client(number).request("POST", waba_id, "message_templates", json=payload)
    except GraphError as error:
        raise MetaRefused(error) from None
    answer = answer if isinstance(answer, dict) else {}
    status, category = answer.get("status", "PENDING"), answer.get("category", category)
    now = timezone.now()
    return Template.objects.create(
        template_name=name, language=language, category=category, status=status,
        template_body={**payload, "category": category, "status": status},
        template_vars={}, facebook_template_id=answer.get("id"),
        whatsapp_business_account_id=waba_id, created_at=now, updated_at=now,
    )


def delete_template(template: Template) -> None:
    """Delete the template on Meta (this language only, when Meta's id is known), then here."""
    if template.organization_id is None:
        raise Refused(403, "shared_template", "Shared templates belong to the platform: your "
                      "organization cannot delete them.")
    waba_id, number = _account(template.whatsapp_business_account_id)
    params = {"name": template.template_name}
    if template.facebook_template_id:
        params["hsm_id"] = template.facebook_template_id
    try:
        _client(number).request("DELETE", waba_id, "message_templates", params=params)
    except GraphError as error:
        raise MetaRefused(error) from None
    rows = _own().filter(template_name=template.template_name)
    if template.facebook_template_id:
        rows = rows.filter(pk=template.pk)  # Meta deleted every language only without hsm_id
    rows.delete()
