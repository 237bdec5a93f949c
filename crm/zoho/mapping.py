"""A lead as a Zoho CRM record: its columns in Zoho's field names, and its treatment mapped to a
Zoho concern by the organization's zoho_mappings (a shared row when the organization has none)."""
from __future__ import annotations

from typing import Any

from django.db.models import F

from crm.models import Lead, ZohoMapping

# Lead column -> Zoho field (API names of Zoho's standard Leads module).
FIELDS = {"first_name": "First_Name", "last_name": "Last_Name", "email": "Email",
          "phone": "Phone", "mobile": "Mobile", "city": "City", "lead_source": "Lead_Source",
          "company": "Company"}
# wb-crm's custom fields of the Leads module for the concern.
CONCERN = "Concerns"
SUB_CONCERN = "Sub_Concerns"
ADDITIONAL = "Additional_Concerns"
DESCRIPTION_LENGTH = 2000


def mapping_for(treatment: str | None) -> ZohoMapping | None:
    """The organization's mapping of `treatment` (case-insensitive), else the shared one."""
    if not treatment or not treatment.strip():
        return None
    rows = ZohoMapping.objects.filter(treatment_name__iexact=treatment.strip())
    # The organization's own row overrides a shared row of the same treatment.
    return rows.order_by(F("organization_id").asc(nulls_last=True)).first()


def _description(lead: Lead) -> str | None:
    details = lead.appointment_details if isinstance(lead.appointment_details, dict) else {}
    parts = [f"{key}: {value}" for key, value in details.items()
             if isinstance(value, str | int | float | bool)]
    if lead.sub_source:
        parts.append(f"sub source: {lead.sub_source}")
    return " | ".join(parts)[:DESCRIPTION_LENGTH] or None


def to_record(lead: Lead) -> dict[str, Any]:
    """The Zoho record of `lead` (Last_Name, which Zoho requires, falls back to the first name)."""
    record: dict[str, Any] = {field: getattr(lead, column) for column, field in FIELDS.items()
                              if getattr(lead, column)}
    record.setdefault("Last_Name", lead.first_name or lead.phone)
    treatment = lead.treatment_name or lead.primary_concern
    mapping = mapping_for(treatment)
    if mapping is not None:
        record[CONCERN] = mapping.zoho_name
        if mapping.zoho_sub_concern:
            record[SUB_CONCERN] = mapping.zoho_sub_concern
    elif lead.zoho_mapped_concern:
        record[CONCERN] = lead.zoho_mapped_concern
    if treatment:
        record[ADDITIONAL] = [treatment]
    description = _description(lead)
    if description:
        record["Description"] = description
    return record
