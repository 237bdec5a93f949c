"""The walk: every registered model admin, as organization A's staff, with organization B's rows
in the database. Nothing of B's shows or can be reached, in any view of any admin.

Registering a model admin adds it to this walk; a model without a factory, or whose admin leaks,
fails it. The meta-test below fails when a crm model is neither registered nor handled inline.
"""
from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.views.main import IS_POPUP_VAR, TO_FIELD_VAR
from django.db import models
from django.forms import ModelChoiceField
from django.test import Client

from crm.admin import site
from crm.admin.campaigns import (
    AudienceInline,
    CampaignAdmin,
    JobAdmin,
    JobStatusAddInline,
    JobStatusInline,
)
from crm.models import CampaignCustomer, JobStatus, Organization
from crm.roles import can_read, hidden_in_admin, may_edit_own_organization
from tenancy.context import tenant_context, unscoped
from tenancy.guards import is_tenant_model
from tests.test_admin_support import (
    FACTORIES,
    KINDS,
    MARKER,
    B_YEAR,
    World,
    admin_url,
    build_world,
    key_of,
    missing_key,
    registered,
    staff_client,
)

# Twice: with the Python scope, and with PostgreSQL's row-level security alone.
pytestmark = pytest.mark.usefixtures("python_scope")

REGISTERED = registered()
# Models the admin shows inside another model's pages instead of on their own.
HANDLED_BY_INLINE = {
    JobStatus: (JobAdmin, (JobStatusInline, JobStatusAddInline)),
    CampaignCustomer: (CampaignAdmin, (AudienceInline,)),
}


def test_every_crm_model_is_registered_or_handled_inline() -> None:
    crm_models = set(apps.get_app_config("crm").get_models())
    for model, (parent_admin, inlines) in HANDLED_BY_INLINE.items():
        assert model not in site._registry
        assert model._meta.is_composite_pk  # the reason it has no page of its own
        for inline in inlines:
            assert inline in parent_admin.inlines and inline.model is model
    missing = crm_models - set(site._registry) - set(HANDLED_BY_INLINE)
    assert not missing, f"not in the admin: {sorted(m._meta.label for m in missing)}"
    assert all(model._meta.app_label == "crm" for model in site._registry)


def test_the_admin_passes_django_system_checks() -> None:
    assert site.check(None) == []


def test_every_registered_model_has_a_factory_for_the_walk() -> None:
    assert not [m._meta.label for m, _ in REGISTERED if m not in FACTORIES]


@pytest.fixture
def world(org_a, org_b) -> World:
    return build_world(org_a, org_b)


def _content(response: Any) -> str:
    return response.content.decode()


def _missing_like(client: Client, model: type[models.Model], key: Any, view: str,
                  method: str = "get") -> None:
    """`view` of the row `key` answers exactly as it does for a key no row has."""
    call = getattr(client, method)
    theirs = call(admin_url(model, view, key), follow=True)
    missing = missing_key(model)
    nothing = call(admin_url(model, view, missing), follow=True)
    assert theirs.status_code == nothing.status_code
    assert theirs.redirect_chain == nothing.redirect_chain

    def said(response: Any, key: Any) -> list[str]:
        context = response.context or {}
        return [str(m).replace(str(key), "KEY") for m in context.get("messages", [])]

    assert said(theirs, key) == said(nothing, missing)


def _choice_fields(response: Any) -> list[tuple[Any, str, ModelChoiceField, Any]]:
    """(form, prefix, field name, field) for every model choice of the page's forms."""
    found = []
    forms = [response.context["adminform"].form]
    for inline in response.context.get("inline_admin_formsets", []):
        forms += [*inline.formset.forms, inline.formset.empty_form]
    for form in forms:
        for name, field in form.fields.items():
            if isinstance(field, ModelChoiceField):
                found.append((form, name, field))
    return found


def _offers_none_of_b(world: World, response: Any) -> None:
    """No choice field of the page's forms (inlines too) offers a row of B."""
    with tenant_context(world.a):  # as the request ran: organization A
        for _form, name, field in _choice_fields(response):
            model = field.queryset.model
            offered = {key_of(row) for row in field.queryset}
            assert not offered & world.keys(world.b, model), f"{name} offers B's rows"


def _b_value(world: World, field: ModelChoiceField) -> Any:
    """What a form posts to choose B's row in `field`."""
    row = world.of(world.b, field.queryset.model)[0]
    return getattr(row, field.to_field_name or "pk")


def _posting_b_is_an_error(world: World, client: Client, url: str, response: Any) -> None:
    """Posting B's rows into each tenant choice of the main form is a form error."""
    form = response.context["adminform"].form
    fields = {name: f for name, f in form.fields.items()
              if isinstance(f, ModelChoiceField) and is_tenant_model(f.queryset.model)}
    if not fields:
        return
    data = {form.add_prefix(name): str(_b_value(world, f)) for name, f in fields.items()}
    answer = client.post(url, data)
    assert answer.status_code == 200, "a B row was accepted"
    errors = answer.context["adminform"].form.errors
    for name in fields:
        assert name in errors, f"{name}: B's row was not refused"


def _inline_b_is_an_error(world: World, client: Client, url: str, response: Any) -> None:
    """Posting B's rows into an inline form's choices, or B's row as an inline row, fails."""
    for inline in response.context.get("inline_admin_formsets", []):
        formset = inline.formset
        prefix = formset.prefix
        empty = formset.empty_form
        choices = {name: f for name, f in empty.fields.items()
                   if isinstance(f, ModelChoiceField) and is_tenant_model(f.queryset.model)
                   and name != formset.fk.name}
        theirs = world.of(world.b, formset.model)
        pk_name = formset.model._meta.pk.name
        attempts = []
        if choices and inline.has_add_permission:
            attempts.append(({f"{prefix}-0-{n}": str(_b_value(world, f))
                              for n, f in choices.items()}, 0, list(choices)))
        if theirs and inline.has_change_permission and pk_name in empty.fields:
            key = formset.model._meta.pk.value_to_string(theirs[0])
            attempts.append(({f"{prefix}-0-{pk_name}": key}, 1, [pk_name]))
        for data, initial, names in attempts:
            data.update({f"{prefix}-TOTAL_FORMS": "1", f"{prefix}-INITIAL_FORMS": str(initial),
                         f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"})
            answer = client.post(url, data)
            assert answer.status_code == 200
            posted = [i.formset for i in answer.context["inline_admin_formsets"]
                      if i.formset.prefix == prefix][0]
            for name in names:
                assert name in posted.forms[0].errors, f"{prefix}-{name}: B accepted"


def _autocompletes_offer_none_of_b(world: World, client: Client, model_admin: Any,
                                   request_admins: list[Any]) -> None:
    for admin_obj in request_admins:
        for name in admin_obj.autocomplete_fields:
            answer = client.get("/admin/autocomplete/", {
                "app_label": admin_obj.model._meta.app_label,
                "model_name": admin_obj.model._meta.model_name, "field_name": name,
                "term": ""})
            if answer.status_code == 403:
                continue
            ids = {r["id"] for r in answer.json()["results"]}
            remote = admin_obj.model._meta.get_field(name).related_model
            assert not ids & {str(k) for k in world.keys(world.b, remote)}
            assert MARKER not in _content(answer)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "model", [m for m, _ in REGISTERED], ids=[m._meta.model_name for m, _ in REGISTERED]
)
def test_organization_a_staff_see_and_reach_nothing_of_b(
    world: World, kind: str, model: type[models.Model]
) -> None:
    client, user = staff_client(kind, world.a)
    model_admin = site._registry[model]
    platform = kind == "super_in_a"
    tenant = is_tenant_model(model)
    mine, theirs = world.of(world.a, model), world.of(world.b, model)

    # Changelist, its filters, search, date hierarchy and raw-id popup.
    page = client.get(admin_url(model))
    if hidden_in_admin(user, model):  # logs and API tokens: agents reach no row, A's or B's
        assert page.status_code == 403
        for row in (mine + theirs)[:2]:
            assert client.get(admin_url(model, "change", row.pk)).status_code in (403, 404)
        return
    # An ORG_ADMIN reaches its own organization's settings page, and no other organization.
    own_organization = model is Organization and may_edit_own_organization(user)
    if not (can_read(user, model) or own_organization):
        assert page.status_code == 403
    else:
        assert page.status_code == 200
        assert not world.leaks(_content(page), platform=platform)
        cl = page.context["cl"]
        listed = {key_of(row) for row in cl.result_list}
        assert not listed & world.keys(world.b, model)
        if tenant:
            assert world.keys(world.a, model) <= listed  # the walk sees A's rows
        for spec in cl.filter_specs:
            for choice in spec.choices(cl):
                assert not world.leaks(str(choice), platform=platform), spec.title
        if model_admin.search_fields and tenant:
            assert client.get(admin_url(model), {"q": MARKER}).context["cl"].result_count == 0
        if model_admin.date_hierarchy and tenant:
            year = {f"{model_admin.date_hierarchy}__year": str(B_YEAR)}
            assert client.get(admin_url(model), year).context["cl"].result_count == 0
        if not model._meta.is_composite_pk:
            popup = client.get(admin_url(model), {IS_POPUP_VAR: "1",
                                                  TO_FIELD_VAR: model._meta.pk.attname})
            assert popup.status_code == 200
            assert not world.leaks(_content(popup), platform=platform)

    # B's change, delete and history pages answer as for a missing row; B's row stays.
    for row in theirs[:1]:
        for view in ("change", "delete", "history"):
            _missing_like(client, model, row.pk, view)
        _missing_like(client, model, row.pk, "change", "post")
        _missing_like(client, model, row.pk, "delete", "post")
        client.post(admin_url(model), {"action": "delete_selected", "post": "yes",
                                       ACTION_CHECKBOX_NAME: [str(row.pk)], "index": "0"})
        with unscoped():
            assert model._base_manager.filter(pk=row.pk).exists()

    # The add form and A's change form offer nothing of B's, and refuse B's rows.
    request = page.wsgi_request
    with tenant_context(world.a):
        may_add = model_admin.has_add_permission(request)
    pages = [(admin_url(model, "add"), may_add)] if may_add else []
    if mine:
        pages.append((admin_url(model, "change", mine[0].pk), True))
    for url, _ in pages:
        form_page = client.get(url)
        assert form_page.status_code == 200, url
        assert not world.leaks(_content(form_page), platform=platform)
        _offers_none_of_b(world, form_page)
        if "adminform" in form_page.context and form_page.context["adminform"].form.fields:
            _posting_b_is_an_error(world, client, url, form_page)
        _inline_b_is_an_error(world, client, url, form_page)
        inline_admins = [i.opts for i in form_page.context.get("inline_admin_formsets", [])]
        _autocompletes_offer_none_of_b(world, client, model_admin, [model_admin, *inline_admins])
    with unscoped():
        for row in theirs:
            assert model._base_manager.filter(pk=row.pk).exists()
