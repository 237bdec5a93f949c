"""Meta-tests: every model is classified, and the classification matches LEGACY_SCHEMA.md."""
from __future__ import annotations

import pytest
from django.apps import apps
from django.core.management import call_command
from django.test import override_settings

from tenancy.checks import check_tenant_classification
from tenancy.guards import is_tenant_model
from tenancy.models import TenantManager

TENANT_TABLES = {
    "users", "customers", "whatsapp_numbers", "messages", "campaigns", "jobs", "job_status",
    "orders", "order_items", "payments", "payment_transactions", "referrer_tracking",
    "customer_addresses", "address_collection_sessions", "templates", "campaign_recipients",
    "quick_replies", "leads", "zoho_mappings", "flow_logs", "campaign_logs", "whatsapp_api_logs",
    "zoho_payload_logs", "number_flow_configs",
    "api_tokens",  # new in the port
    "campaign_customers",  # wb-crm's own, modelled with campaign sending (crm.0012)
    "automation_rules", "automation_runs",  # automation (crm.0022)
    "automation_schedules",  # delayed triggers (crm.0023)
    "flows", "flow_sessions",  # guided flows (crm.0024)
    "labels", "customer_labels", "attribute_definitions", "conversation_notes",  # crm.0029
    "contact_imports", "segments",  # contact imports and segments (crm.0031)
    "webhook_subscriptions", "webhook_deliveries",  # outgoing webhooks (crm.0028)
    "integration_credentials",  # per-organization provider credentials (crm.0025)
    "payment_events",  # gateway webhook events, once each (crm.0026)
    "daily_message_stats", "campaign_funnels", "response_times",  # report roll-ups (crm.0032)
    "response_time_counts",  # first-reply percentiles from counts (crm.0043)
    "invitations", "audit_events",  # accounts (crm.0034)
    "organization_exports",  # exports of an organization (crm.0035)
    "conversation_resolutions",  # resolutions, for resolution times (crm.0039)
    # The catalog: an organization's own rows, and shared rows of none (crm.0037).
    "categories", "sub_categories", "products",
}
SHARED_TABLES = {"organizations", "roles", "costs", "files",
                 "inbound_deliveries"}  # platform-only: kept before the organization is known


def _ids(**settings: object) -> set[str]:
    with override_settings(**settings):
        return {error.id for error in check_tenant_classification()}


@pytest.mark.django_db  # the row-level security check reads the catalog
def test_the_project_passes_its_system_checks() -> None:
    call_command("check", fail_level="WARNING")
    assert check_tenant_classification() == []


def test_tenant_and_shared_tables_are_exactly_the_documented_ones() -> None:
    models = list(apps.get_app_config("crm").get_models())
    assert {m._meta.db_table for m in models if is_tenant_model(m)} == TENANT_TABLES
    assert {m._meta.db_table for m in models if not is_tenant_model(m)} == SHARED_TABLES


def test_every_tenant_model_keeps_scoped_default_and_base_managers() -> None:
    for model in apps.get_app_config("crm").get_models():
        if is_tenant_model(model):
            assert isinstance(model._default_manager, TenantManager), model
            assert isinstance(model._base_manager, TenantManager), model


def test_an_unclassified_model_fails_the_check() -> None:
    from django.conf import settings

    shared = [label for label in settings.TENANCY_SHARED_MODELS if label != "crm.Role"]
    assert _ids(TENANCY_SHARED_MODELS=shared) == {"tenancy.E001"}


def test_a_tenant_model_on_the_shared_list_fails_the_check() -> None:
    from django.conf import settings

    shared = [*settings.TENANCY_SHARED_MODELS, "crm.Customer"]
    assert _ids(TENANCY_SHARED_MODELS=shared) == {"tenancy.E003"}


def test_an_unknown_shared_model_fails_the_check() -> None:
    from django.conf import settings

    shared = [*settings.TENANCY_SHARED_MODELS, "crm.Nope"]
    assert _ids(TENANCY_SHARED_MODELS=shared) == {"tenancy.E002"}
