"""The admin index grouped by what staff work with, not by Django app."""
from __future__ import annotations

from typing import Any

# Model names (lowercase) by group, in the order the index shows them. Anything else (platform
# tables, new models) lands in Settings; logs are grouped last.
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Conversations", ("message", "quickreply", "template", "referrertracking")),
    ("Customers", ("customer", "customeraddress", "addresscollectionsession", "lead")),
    ("Campaigns", ("campaign", "campaignrecipient", "job", "jobstatus")),
    ("Orders", ("order", "orderitem", "payment", "paymenttransaction")),
    ("Settings", ()),
    ("Logs", ("flowlog", "campaignlog", "whatsappapilog", "zohopayloadlog")),
)
DEFAULT_GROUP = "Settings"


def group_app_list(app_list: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Django's app list regrouped into GROUPS (empty groups dropped, models sorted by name)."""
    where = {name: group for group, names in GROUPS for name in names}
    grouped: dict[str, list[dict[str, Any]]] = {group: [] for group, _ in GROUPS}
    for app in app_list:
        for model in app["models"]:
            name = model["object_name"].lower()
            grouped[where.get(name, DEFAULT_GROUP)].append(model)
    return [
        {
            "name": group, "app_label": group.lower(), "app_url": "",
            "has_module_perms": True,
            "models": sorted(models, key=lambda m: str(m["name"])),
        }
        for group, models in grouped.items()
        if models
    ]
