"""The campaigns page at /campaigns/: the list, the builder (template, parameters, audience), a
campaign's estimate, sending now or at a time, and its progress (htmx polls the progress partial
while it runs). ORG_ADMIN writes; agents read. Thin over crm.campaigns.builder and services."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from crm.campaigns import builder, services
from crm.campaigns.errors import CampaignActionError
from crm.campaigns.progress import progress as job_progress
from crm.imports import reading
from crm.imports.errors import ImportRefused
from crm.inbox.access import inbox_view
from crm.models import Campaign, Label, Segment
from crm.roles import can_write

RECENT = 50
ACTIONS = ("send", "stop", "resume")
READ_ONLY = "Only an ORG_ADMIN builds, sends, stops or resumes campaigns."


def _may_write(request: HttpRequest) -> bool:
    return can_write(request.user, Campaign)


def _campaign(campaign_id: uuid.UUID) -> Campaign:
    found = Campaign.objects.filter(pk=campaign_id).first()
    if found is None:
        raise Http404("No such campaign.")
    return found


def _own(model: type[Segment] | type[Label], value: str) -> Any:
    """The organization's segment or label of this id; None when none was chosen; 404 when the
    id is not one of the organization's."""
    if not value:
        return None
    try:
        found = model.objects.filter(pk=uuid.UUID(value)).first()
    except ValueError:
        found = None
    if found is None:
        raise Http404(f"No such {model._meta.verbose_name}.")
    return found


def _builder_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {
        "organization": request.inbox_organization, "may_write": _may_write(request),
        "campaigns": Campaign.objects.select_related("last_job")[:RECENT],
        "templates": builder.approved_templates(), "segments": Segment.objects.all(),
        "labels": Label.objects.all(), **extra,
    }


@require_GET
@inbox_view
def index(request: HttpRequest) -> HttpResponse:
    """The campaigns, and the builder for an ORG_ADMIN."""
    return render(request, "campaigns/index.html", _builder_context(request))


@require_GET
@inbox_view
def template_preview(request: HttpRequest) -> HttpResponse:
    """The chosen template's preview and its parameter mapping (htmx)."""
    value = request.GET.get("template", "")
    if not value:
        return HttpResponse("")
    template = builder.find_template(value)
    if template is None:
        raise Http404("No such approved template.")
    return render(request, "campaigns/_preview.html", builder.preview(template))


@require_POST
@inbox_view
def build(request: HttpRequest) -> HttpResponse:
    """Create a campaign from the builder's form; its page, or the form with the refusal."""
    if not _may_write(request):
        return HttpResponse(READ_ONLY, status=403)
    form = request.POST
    template = builder.find_template(form.get("template", "")) if form.get("template") else None
    if form.get("template") and template is None:
        raise Http404("No such approved template.")
    segment = _own(Segment, form.get("segment", ""))
    label = _own(Label, form.get("label", ""))
    choice: dict[str, Any] = {"segment": segment and str(segment.pk),
                              "label": label and label.name}
    try:
        if template is None:
            raise builder.BuilderRefused("template", "choose an approved template.")
        upload = request.FILES.get("file")
        if upload is not None:
            reading.check_size(upload.size)
            choice.update(file=upload.name or "audience", data=upload.read(), mapping={})
        campaign = builder.build(request.user, form.get("name", ""), template, dict(form.items()),
                                 choice)
    except ImportRefused as error:
        return _refused(request, template, "file", str(error))
    except builder.BuilderRefused as error:
        return _refused(request, template, error.field, str(error))
    return redirect("campaigns:detail", campaign_id=campaign.pk)


def _refused(request: HttpRequest, template: Any, field: str, message: str) -> HttpResponse:
    extra: dict[str, Any] = {"error": {"field": field, "message": message}, "form": request.POST}
    if template is not None:
        extra.update(builder.preview(template, request.POST))
    return render(request, "campaigns/index.html", _builder_context(request, **extra), status=400)


def _detail_context(request: HttpRequest, campaign: Campaign, **extra: Any) -> dict[str, Any]:
    job = campaign.jobs.order_by("-created_at").first()
    try:
        estimate = builder.estimate(campaign)
    except CampaignActionError as error:
        estimate, extra["error"] = None, {"field": "content", "message": str(error)}
    counts = job_progress(job) if job else None
    if counts:
        counts["done"] = counts["counts"]["total"] - counts["counts"]["pending"]
    return {"organization": request.inbox_organization, "may_write": _may_write(request),
            "campaign": campaign, "estimate": estimate, "job": job, "progress": counts, **extra}


@require_GET
@inbox_view
def detail(request: HttpRequest, campaign_id: uuid.UUID) -> HttpResponse:
    """One campaign: its estimate, send or schedule, and its progress."""
    campaign = _campaign(campaign_id)
    return render(request, "campaigns/detail.html", _detail_context(request, campaign))


@require_GET
@inbox_view
def progress(request: HttpRequest, campaign_id: uuid.UUID) -> HttpResponse:
    """The progress partial, polled by htmx while the campaign runs."""
    campaign = _campaign(campaign_id)
    return render(request, "campaigns/_progress.html", _detail_context(request, campaign))


def _when(request: HttpRequest) -> datetime | None:
    """The schedule's time (the organization's time zone), None to send now."""
    if request.POST.get("when") != "later":
        return None
    value = request.POST.get("scheduled_at", "")
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        raise builder.BuilderRefused("scheduled_at", "give the date and time to send at, such "
                                     "as 2026-12-31T09:30.") from None
    zone = ZoneInfo(request.inbox_organization.time_zone or "UTC")
    return timezone.make_aware(naive.replace(tzinfo=None), zone)


@require_POST
@inbox_view
def act(request: HttpRequest, campaign_id: uuid.UUID, action: str) -> HttpResponse:
    """Send (now or at a time), stop or resume; the campaign's page, or it with the refusal."""
    campaign = _campaign(campaign_id)
    if action not in ACTIONS:
        raise Http404("No such action: send, stop or resume.")
    if not _may_write(request):
        return HttpResponse(READ_ONLY, status=403)
    try:
        if action == "send":
            builder.send(campaign, request.user, _when(request))
        elif action == "stop":
            services.stop_campaign(campaign, f"stopped by {request.user.get_username()}")
        else:
            services.resume_campaign(campaign, request.user)
    except builder.BuilderRefused as error:
        return _act_refused(request, campaign, error.field, str(error), 400)
    except CampaignActionError as error:
        return _act_refused(request, campaign, "campaign", str(error), error.status)
    return redirect("campaigns:detail", campaign_id=campaign.pk)


def _act_refused(request: HttpRequest, campaign: Campaign, field: str, message: str,
                 status: int) -> HttpResponse:
    context = _detail_context(request, campaign, error={"field": field, "message": message})
    return render(request, "campaigns/detail.html", context, status=status)
