"""Campaigns, their jobs (with the per-customer job statuses), recipients and delivery logs."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

from crm.admin.base import (
    LogAdmin,
    RecentInline,
    TenantModelAdmin,
    TenantTabularInline,
    changelist_links,
)
from crm.admin.forms import TenantModelForm
from crm.admin.sites import site
from crm.campaigns import services
from crm.campaigns.content import check_settings
from crm.campaigns.errors import CampaignActionError, InvalidContent
from crm.campaigns.progress import progress
from crm.models import (
    Campaign,
    CampaignCustomer,
    CampaignLog,
    CampaignRecipient,
    Job,
    JobStatus,
)


class JobInline(RecentInline):
    model = Job
    fields = ("created_at", "last_attempted_by", "last_triggered_time")
    select_related = ("last_attempted_by",)
    verbose_name_plural = "latest jobs"


class AudienceInline(RecentInline):
    model = CampaignCustomer
    fields = ("customer",)
    select_related = ("customer",)
    verbose_name_plural = "first customers of the audience"
    limit = 50


class RecipientInline(RecentInline):
    model = CampaignRecipient
    fields = ("phone_number", "name", "status", "created_at")
    verbose_name_plural = "first recipients"
    limit = 50


class CampaignLogInline(RecentInline):
    model = CampaignLog
    fields = ("created_at", "phone_number", "status", "http_status_code", "error_code",
              "error_message")
    verbose_name_plural = "latest delivery logs"


class CampaignForm(TenantModelForm):
    """A campaign; its content's sending settings (`from_numbers`, `category`) of the right
    shape, as a run reads them."""

    def clean_content(self) -> Any:
        content = self.cleaned_data.get("content")
        try:
            check_settings(content)
        except InvalidContent as error:
            raise ValidationError(str(error), code="invalid") from None
        return content


@admin.register(Campaign, site=site)
class CampaignAdmin(TenantModelAdmin):
    form = CampaignForm
    list_display = ("name", "type", "status", "created_by", "campaign_cost_type", "created_at",
                    "updated_at")
    list_filter = ("type", "status", "created_at")
    list_select_related = ("created_by", "campaign_cost_type")
    search_fields = ("name", "description")
    date_hierarchy = "created_at"
    fieldsets = (
        (None, {"fields": ("name", "description", "type", "status", "campaign_cost_type",
                           "content")}),
        ("Sending", {"fields": ("scheduled_at", "run_progress")}),
        ("Record", {"fields": ("created_by", "updated_by", "last_job", "created_at",
                               "updated_at", "everything")}),
    )
    readonly_fields = ("created_by", "updated_by", "last_job", "everything", "run_progress")
    inlines = (JobInline, AudienceInline, RecipientInline, CampaignLogInline)
    actions = ("run_campaigns", "stop_campaigns", "resume_campaigns")

    @admin.display(description="Latest run")
    def run_progress(self, obj: Campaign) -> str:
        job = None if obj._state.adding else obj.jobs.order_by("-created_at").first()
        if job is None:
            return "never run"
        report = progress(job)
        counts = ", ".join(f"{name} {count}" for name, count in report["counts"].items())
        reason = f" ({report['stop_reason']})" if report["stop_reason"] else ""
        return f"{report['state']}{reason}: {counts}; {report['rate_per_second']} sent/s"

    def _each(self, request: HttpRequest, queryset: QuerySet[Campaign], action: Any,
              done: str) -> None:
        """Apply a service action to each selected campaign, reporting each refusal."""
        for campaign in queryset:
            try:
                action(campaign, request.user)
            except CampaignActionError as error:
                self.message_user(request, f"{campaign}: {error}", messages.WARNING)
            else:
                self.message_user(request, f"{campaign}: {done}.", messages.SUCCESS)

    @admin.action(description="Run the selected campaigns", permissions=["change"])
    def run_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._each(request, queryset, services.run_campaign, "queued")

    @admin.action(description="Stop the selected campaigns", permissions=["change"])
    def stop_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._each(request, queryset, lambda campaign, user: services.stop_campaign(
            campaign, f"stopped by {user.get_username()}"), "stopped")

    @admin.action(description="Resume the selected campaigns", permissions=["change"])
    def resume_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._each(request, queryset, services.resume_campaign, "resumed")

    @admin.display(description="All records")
    def everything(self, obj: Campaign) -> str:
        if obj._state.adding:
            return "-"
        return changelist_links(
            [(Job, "jobs"), (CampaignRecipient, "recipients"), (CampaignLog, "delivery logs")],
            campaign__id__exact=obj.pk,
        )

    def save_model(self, request: HttpRequest, obj: Campaign, form: Any, change: bool) -> None:
        if change:
            obj.updated_by = request.user
        elif obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


class JobStatusFormSet(BaseInlineFormSet):
    """A job's statuses. job_status has a composite key (job, customer), which Django's formsets
    cannot round-trip through a form: rows are identified here by the key as JSON instead.

    Shows at most `limit` rows, failures first; a posted key is looked up among all the job's
    rows (scoped like any query), so what was shown and what is saved always match.
    """

    limit = 200

    def get_queryset(self) -> Any:
        if not hasattr(self, "_shown"):
            self._shown = self.queryset.order_by("status", "customer_id")[: self.limit]
        return self._shown

    def add_fields(self, form: forms.Form, index: int | None) -> None:
        super().add_fields(form, index)
        key = None if form.instance._state.adding else JobStatus._meta.pk.value_to_string(
            form.instance
        )
        form.fields["pk"] = forms.CharField(required=False, widget=forms.HiddenInput, initial=key)

    def clean(self) -> None:
        super().clean()
        for form in self.initial_forms:
            if form.instance._state.adding:  # the posted key is not one of this job's rows
                form.add_error("pk", "This status is not one of this job's.")
        # A new row with the key of an existing one would silently overwrite it.
        added = [form for form in self.extra_forms
                 if form.has_changed() and form.cleaned_data.get("customer") is not None]
        customers = [form.cleaned_data["customer"].pk for form in added]
        taken = set(self.instance.statuses.filter(customer_id__in=customers)
                    .values_list("customer_id", flat=True)) if not self.instance._state.adding \
            else set()
        for form in added:
            customer_id = form.cleaned_data["customer"].pk
            if customer_id in taken:
                form.add_error("customer", "This customer has a status for this job already.")
            taken.add(customer_id)

    @staticmethod
    def _key(posted: Any) -> tuple[Any, ...] | None:
        """The (job, customer) key a form posted as JSON, or None when it is not one."""
        try:
            return tuple(JobStatus._meta.pk.to_python(posted))
        except (TypeError, ValueError, ValidationError):  # tampered: not JSON, not two ids
            return None

    def _get_to_python(self, field: Any) -> Any:
        if field is not JobStatus._meta.pk:
            return super()._get_to_python(field)

        def to_python(posted: Any) -> tuple[Any, ...]:
            # Django's CompositePrimaryKey.to_python lets JSON errors escape (a 500); a key
            # that is not one is a ValidationError, which the formset reports on the row.
            key = self._key(posted)
            if key is None:
                raise ValidationError("This status is not one of this job's.", code="invalid")
            return key

        return to_python

    def _existing_object(self, pk: Any) -> JobStatus | None:
        if not hasattr(self, "_posted"):
            keys = [self._key(self.data.get(f"{self.add_prefix(i)}-pk"))
                    for i in range(self.initial_form_count())]
            customers = [key[1] for key in keys if key is not None]
            rows = self.queryset.filter(customer_id__in=customers).select_related("customer")
            self._posted = {tuple(row.pk): row for row in rows}
        return self._posted.get(tuple(pk))


class JobStatusInline(TenantTabularInline):
    """The job's statuses: change one, or delete it."""

    model = JobStatus
    formset = JobStatusFormSet
    fields = ("customer", "status")
    readonly_fields = ("customer",)
    select_related = ("customer",)
    verbose_name_plural = "job statuses (failures first)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # JobStatusAddInline adds


class JobStatusAddInline(TenantTabularInline):
    """New statuses for the job: a customer of the organization and an outcome."""

    model = JobStatus
    formset = JobStatusFormSet
    fields = ("customer", "status")
    autocomplete_fields = ("customer",)
    extra = 1
    can_delete = False
    verbose_name = "new job status"
    verbose_name_plural = "add job statuses"

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).none()

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_add_permission(request, obj)


class JobLogInline(CampaignLogInline):
    fk_name = "job"


@admin.register(Job, site=site)
class JobAdmin(TenantModelAdmin):
    """A run of a campaign, with the outcome per customer (job_status rows) inline."""

    list_display = ("__str__", "campaign", "created_at", "last_attempted_by",
                    "last_triggered_time")
    list_filter = ("created_at", ("campaign", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("campaign", "last_attempted_by")
    search_fields = ("campaign__name",)
    date_hierarchy = "created_at"
    autocomplete_fields = ("campaign", "last_attempted_by")
    inlines = (JobStatusInline, JobStatusAddInline, JobLogInline)


@admin.register(CampaignRecipient, site=site)
class CampaignRecipientAdmin(TenantModelAdmin):
    list_display = ("phone_number", "name", "campaign", "status", "created_at")
    list_filter = ("status", ("campaign", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("campaign",)
    search_fields = ("phone_number", "name", "campaign__name")
    autocomplete_fields = ("campaign",)


@admin.register(CampaignLog, site=site)
class CampaignLogAdmin(LogAdmin):
    list_display = ("created_at", "campaign", "job", "target_type", "phone_number", "status",
                    "http_status_code", "error_code", "retry_count")
    list_filter = ("status", "target_type", "http_status_code", "created_at")
    list_select_related = ("campaign", "job")
    search_fields = ("phone_number", "whatsapp_message_id", "error_code", "campaign__name")
    date_hierarchy = "created_at"
