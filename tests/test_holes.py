"""Holes an attacker found in the Python tenant layer with ordinary Django calls: each refused.

Row-level security (another branch) makes them harmless in PostgreSQL too; these tests pin the
Python layer's own refusal.
"""
from __future__ import annotations

import io
import json
import uuid

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import models

from crm.models import Customer, Message, Template, User
from tenancy.context import tenant_context, unscoped
from tenancy.exceptions import CrossTenantError, TenantNotSetError
from tests.planting import plant
from tests.conftest import World


def _owner(model: type[models.Model], pk: object) -> tuple:
    with unscoped():  # the test reads the truth across organizations
        return model.objects.filter(pk=pk).values_list("organization_id", flat=True).get()


def _shared_template_id() -> object:
    with unscoped():  # the test reads the truth across organizations
        return Template.objects.get(template_name="shared-welcome", organization=None).pk


def _name_of(customer: Customer) -> str:
    with unscoped():  # the test reads the truth across organizations
        return Customer.objects.get(pk=customer.pk).name


# --- bulk_create(update_conflicts=True) ---------------------------------------------------------

def test_upsert_naming_another_organizations_key_is_refused(world: World) -> None:
    forged = Customer(id=world.customer_b.pk, wa_id="1", name="overwritten by A")
    with tenant_context(world.a), pytest.raises(CrossTenantError, match="another organization"):
        Customer.objects.bulk_create([forged], update_conflicts=True, unique_fields=["id"],
                                     update_fields=["name"])
    assert _name_of(world.customer_b) == "org-b"


def test_upsert_of_own_rows_still_works(world: World) -> None:
    with tenant_context(world.a):
        again = Customer(id=world.customer_a.pk, wa_id="919800000001", name="renamed")
        fresh = Customer(wa_id="2", name="new")
        Customer.objects.bulk_create([again, fresh], update_conflicts=True,
                                     unique_fields=["id"], update_fields=["name"])
        assert sorted(Customer.objects.values_list("name", flat=True)) == ["new", "renamed"]


def test_upsert_of_a_shared_row_is_refused(world: World) -> None:
    shared = _shared_template_id()
    forged = Template(id=shared, template_name="shared-welcome", template_body={"v": "A's"},
                      template_vars={})
    with tenant_context(world.a), pytest.raises(CrossTenantError):
        Template.objects.bulk_create([forged], update_conflicts=True, unique_fields=["id"],
                                     update_fields=["template_body"])
    with unscoped():
        assert Template.objects.get(pk=shared).template_body == {}


# --- save() of a new object with an existing key ------------------------------------------------

def test_saving_a_new_object_with_a_shared_rows_key_is_refused(world: World) -> None:
    """A new object given a shared row's key must not turn that row into A's."""
    shared = _shared_template_id()
    forged = Template(id=shared, template_name="shared-welcome", template_body={"v": "A's"},
                      template_vars={})
    with tenant_context(world.a), pytest.raises(CrossTenantError):
        forged.save()
    assert _owner(Template, shared) is None


def test_saving_a_loaded_shared_row_claimed_for_us_is_refused(world: World) -> None:
    with tenant_context(world.a):
        template = Template.objects.get(pk=_shared_template_id())
        template.organization_id = world.a.pk
        with pytest.raises(CrossTenantError):
            template.save()
    assert _owner(Template, template.pk) is None


def test_saving_a_new_object_with_another_organizations_key_is_refused(world: World) -> None:
    forged = Message(id=world.message_b.pk, customer=world.customer_a, body="A's")
    with tenant_context(world.a), pytest.raises(CrossTenantError, match="another organization"):
        forged.save()
    with unscoped():
        assert Message.objects.get(pk=world.message_b.pk).body == "hello from org-b"


def test_a_key_replaced_after_it_was_drawn_is_looked_up(world: World) -> None:
    """Only a key the uuid4 default drew skips the lookup; one set afterwards is checked."""
    forged = Customer(wa_id="440000000001")
    forged.pk = world.customer_b.pk
    with tenant_context(world.a), pytest.raises(CrossTenantError, match="another organization"):
        forged.save()
    assert _owner(Customer, world.customer_b.pk) == world.b.pk


def test_a_drawn_key_is_saved_without_a_lookup(
    world: World, django_assert_num_queries: object
) -> None:
    """A new row whose key the uuid4 default drew cannot collide: one INSERT, no SELECT."""
    fresh = Customer(wa_id="440000000002")
    with tenant_context(world.a), django_assert_num_queries(1) as queries:  # type: ignore[operator]
        fresh.save()
    assert queries.captured_queries[0]["sql"].startswith("INSERT")
    fresh.organization_id = world.b.pk
    with tenant_context(world.a), pytest.raises(CrossTenantError):
        fresh.save()  # saved once: its stored row decides from now on


# --- update(organization=None) ------------------------------------------------------------------

@pytest.mark.parametrize("field", ["organization", "organization_id"])
def test_update_to_no_organization_is_refused(world: World, field: str) -> None:
    with tenant_context(world.a), pytest.raises(CrossTenantError, match="no organization"):
        Customer.objects.filter(pk=world.customer_a.pk).update(**{field: None})
    assert _owner(Customer, world.customer_a.pk) == world.a.pk


# --- forged organization_id on an instance in memory --------------------------------------------

def test_deleting_an_unsaved_instance_with_a_forged_organization_is_refused(world: World) -> None:
    forged = Customer(id=world.customer_b.pk, organization_id=world.a.pk)
    with tenant_context(world.a), pytest.raises(CrossTenantError):
        forged.delete()
    assert _owner(Customer, world.customer_b.pk) == world.b.pk


def test_deleting_a_loaded_instance_pointed_at_another_row_is_refused(world: World) -> None:
    with tenant_context(world.a):
        mine = Customer.objects.get(pk=world.customer_a.pk)
        mine.pk = world.customer_b.pk
        with pytest.raises(CrossTenantError):
            mine.delete()
    assert _owner(Customer, world.customer_b.pk) == world.b.pk


def test_referencing_an_unsaved_parent_with_a_forged_organization_is_refused(
    world: World,
) -> None:
    parent = Customer(id=world.customer_b.pk, organization_id=world.a.pk)
    with tenant_context(world.a), pytest.raises(CrossTenantError, match="another organization"):
        Message.objects.create(customer=parent, body="A's message in B's conversation")


def test_referencing_a_loaded_parent_whose_organization_was_changed_is_refused(
    world: World,
) -> None:
    with tenant_context(world.b):
        theirs = Customer.objects.get(pk=world.customer_b.pk)
    theirs.organization_id = world.a.pk
    with tenant_context(world.a), pytest.raises(CrossTenantError):
        Message.objects.create(customer=theirs, body="x")


# --- raw saves -----------------------------------------------------------------------------------

def test_raw_save_planting_a_row_in_another_organization_is_refused(world: World) -> None:
    planted = Customer(id=uuid.uuid4(), wa_id="5", name="planted", organization_id=world.b.pk)
    with tenant_context(world.a), pytest.raises(CrossTenantError):
        planted.save_base(raw=True)
    with unscoped():
        assert not Customer.objects.filter(pk=planted.pk).exists()


def test_loaddata_planting_rows_in_another_organization_is_refused(world: World, tmp_path) -> None:
    fixture = tmp_path / "planted.json"
    fixture.write_text(json.dumps([{
        "model": "crm.customer", "pk": str(uuid.uuid4()),
        "fields": {"wa_id": "6", "name": "planted", "organization": str(world.b.pk),
                   "customer_status": "open"},
    }]))
    with tenant_context(world.a), pytest.raises(CrossTenantError):
        call_command("loaddata", str(fixture), stdout=io.StringIO())
    with unscoped():
        assert not Customer.objects.filter(name="planted").exists()


def test_raw_save_overwriting_another_organizations_row_is_refused(world: World) -> None:
    forged = Message(id=world.message_b.pk, customer=world.customer_a, body="x",
                     organization_id=world.a.pk)
    with tenant_context(world.a), pytest.raises(CrossTenantError):
        forged.save_base(raw=True)
    with unscoped():
        assert Message.objects.get(pk=world.message_b.pk).body == "hello from org-b"


def test_loaddata_of_own_rows_still_works(world: World, tmp_path) -> None:
    fixture = tmp_path / "own.json"
    key = str(uuid.uuid4())
    fixture.write_text(json.dumps([{
        "model": "crm.customer", "pk": key,
        "fields": {"wa_id": "7", "name": "loaded", "organization": str(world.a.pk),
                   "customer_status": "open"},
    }]))
    with tenant_context(world.a):
        call_command("loaddata", str(fixture), stdout=io.StringIO())
        assert Customer.objects.get(pk=key).name == "loaded"


# --- queries rooted at a model that is not a tenant model ---------------------------------------

def test_log_entries_joined_to_users_are_scoped(world: World) -> None:
    """LogEntry is Django's, not a tenant model; its join to users is scoped all the same."""
    users = {}
    for org in (world.a, world.b):
        with tenant_context(org):
            users[org.code] = User.objects.create(username=f"staff-{org.code}")
    kind = ContentType.objects.get_for_model(Customer)
    for code, user in users.items():
        LogEntry.objects.create(user_id=user.pk, content_type=kind, object_id="1",
                                object_repr=f"by {code}", action_flag=ADDITION)
    with tenant_context(world.a):
        seen = LogEntry.objects.select_related("user")
        assert [e.object_repr for e in seen] == ["by org-a"]
        assert not LogEntry.objects.filter(user__username="staff-org-b").exists()
    with pytest.raises(TenantNotSetError):
        list(LogEntry.objects.filter(user__username="staff-org-b"))
    with unscoped():
        assert LogEntry.objects.filter(user__username__startswith="staff-").count() == 2


# --- exclude() across a relation on inconsistent legacy data ------------------------------------

def test_exclude_across_a_relation_reveals_nothing_of_another_organization(world: World) -> None:
    """B's message planted on A's customer (legacy data the audit reports): A's exclude() must
    not answer whether B's message says something."""
    plant("UPDATE messages SET customer_id = %s WHERE id = %s",
          [world.customer_a.pk, world.message_b.pk])
    with tenant_context(world.a):
        hit = Customer.objects.exclude(messages__body="hello from org-b")
        miss = Customer.objects.exclude(messages__body="no such text")
        assert list(hit) == list(miss) == [world.customer_a]
        assert not Customer.objects.filter(messages__body="hello from org-b").exists()
