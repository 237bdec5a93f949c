"""Adding customers to a campaign's audience (`campaign_customers`): by id, by segment, by label
or from an uploaded file (imported as contacts first). Set-based: one INSERT ... SELECT that
skips customers already in the audience. Refusals name the field; nothing is added then.
"""
from __future__ import annotations

import uuid
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.db.models.functions import Lower

from crm.campaigns import portable
from crm.campaigns.errors import AudienceRefused
from crm.imports import services as imports
from crm.imports.errors import ImportRefused
from crm.models import Campaign, CampaignCustomer, ContactImport, Customer, Label, Segment
from crm.segments.errors import InvalidFilter
from crm.segments.queries import segment_members
from crm.storable import unstorable
from tenancy.context import get_current_organization_id

MOST_IDS = 100_000


def _ids(values: Any) -> QuerySet[Customer]:
    """The customers of these ids; AudienceRefused naming any id that is not one of ours."""
    if not isinstance(values, list) or not 1 <= len(values) <= MOST_IDS:
        raise AudienceRefused("customer_ids", f"give a list of 1 to {MOST_IDS:,} customer ids.")
    keys = []
    for index, value in enumerate(values):
        try:
            keys.append(uuid.UUID(str(value)))
        except ValueError:
            raise AudienceRefused(f"customer_ids[{index}]", "not a customer id (a UUID from "
                                  "/api/v1/customers/).") from None
    found = set(Customer.objects.filter(pk__in=keys).values_list("pk", flat=True))
    missing = [str(key) for key in dict.fromkeys(keys) if key not in found]
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more"
                                           if len(missing) > 10 else "")
        raise AudienceRefused("customer_ids", f"not customers of your organization: {shown}. "
                              "Nothing was added.")
    return Customer.objects.filter(pk__in=keys)


def _segment(value: Any) -> QuerySet[Customer]:
    try:
        segment = Segment.objects.filter(pk=uuid.UUID(str(value))).first()
    except ValueError:
        segment = None
    if segment is None:
        raise AudienceRefused("segment", "no segment of your organization has this id (see "
                              "/api/v1/segments/).")
    try:
        return segment_members(segment)
    except InvalidFilter as error:
        raise AudienceRefused("segment", f"{error} Fix the segment first.") from None


def _label(value: Any) -> QuerySet[Customer]:
    name = value.strip().lower() if isinstance(value, str) and not unstorable(value) else ""
    label = Label.objects.annotate(lower=Lower("name")).filter(lower=name).first() if name else None
    if label is None:
        raise AudienceRefused("label", "your organization has no label of this name (see "
                              "/api/v1/labels/).")
    return Customer.objects.filter(label_links__label=label)


def _insert(campaign: Campaign, customers: QuerySet[Customer]) -> int:
    """Add the customers (those not in the audience yet); returns how many were added."""
    if connection.vendor != "postgresql":
        return portable.insert_audience(campaign, customers)
    sql, params = customers.order_by().values("pk").query.sql_with_params()
    organization_id = get_current_organization_id()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO campaign_customers (campaign_id, customer_id, organization_id) "
            f"SELECT DISTINCT %s, chosen.id, %s FROM ({sql}) chosen (id) "
            "ON CONFLICT DO NOTHING",
            [campaign.pk, organization_id, *params],
        )
        return cursor.rowcount


def add_audience(campaign: Campaign, choice: dict[str, Any]) -> dict[str, Any]:
    """Add to the audience the customers `choice` names: exactly one of customer_ids, segment,
    label (JSON) or file (name, data, mapping, format; imported as contacts first)."""
    given = [key for key in ("customer_ids", "segment", "label", "file") if
             choice.get(key) not in (None, "")]
    if len(given) != 1:
        raise AudienceRefused("customer_ids", "give exactly one of customer_ids, segment, label "
                              "or file.")
    answer: dict[str, Any] = {}
    with transaction.atomic():
        if given == ["customer_ids"]:
            customers = _ids(choice["customer_ids"])
        elif given == ["segment"]:
            customers = _segment(choice["segment"])
        elif given == ["label"]:
            customers = _label(choice["label"])
        else:
            customers, answer["import"] = _from_file(choice)
        added = _insert(campaign, customers)
    audience = CampaignCustomer.objects.filter(campaign=campaign).count()
    return {**answer, "added": added, "audience": audience}


def _from_file(choice: dict[str, Any]) -> tuple[QuerySet[Customer], ContactImport]:
    """Import the file's contacts now; their customers."""
    try:
        contact_import = imports.store_import(choice["file"], choice["data"],
                                              choice.get("mapping") or {}, choice.get("format"))
    except ImportRefused as error:
        raise AudienceRefused(error.field, str(error)) from None
    wa_ids = imports.run_import(contact_import)
    contact_import.refresh_from_db()
    if contact_import.status == ContactImport.Status.FAILED:
        raise AudienceRefused("file", contact_import.error or "the file could not be read.")
    return Customer.objects.filter(wa_id__in=wa_ids), contact_import
