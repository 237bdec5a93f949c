"""The segments page at /contacts/segments/: build a segment from a form (labels, attributes,
dates, ad source, opt-out, orders) and see how many customers it selects as the filters change
(htmx posts the form to the count partial). Thin over crm.segments."""
from __future__ import annotations

import uuid

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.inbox.access import inbox_view
from crm.models import Segment
from crm.roles import can_write
from crm.segments import queries, services
from crm.segments.errors import InvalidFilter
from crm.segments.forms import SegmentForm
from crm.segments.filters import check_filters

ONLY_ADMINS = "Only an ORG_ADMIN changes segments."


def _segment(segment_id: uuid.UUID) -> Segment:
    """The organization's segment, or 404 (another organization's included)."""
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        raise Http404("No such segment.")
    return segment


def _counted(request: HttpRequest, segment: Segment) -> dict[str, object]:
    try:
        return {"segment": segment, **queries.count(check_filters(segment.filters), request.user)}
    except InvalidFilter as error:  # an attribute deleted since, say: shown, not a 500
        return {"segment": segment, "problem": str(error)}


def _form_page(request: HttpRequest, form: SegmentForm, segment: Segment | None,
               status: int = 200) -> HttpResponse:
    return render(request, "contacts/segments.html", {
        "segments": [_counted(request, s) for s in Segment.objects.all()],
        "form": form, "editing": segment, "may_write": can_write(request.user, Segment)},
        status=status)


@require_http_methods(["GET", "POST"])
@inbox_view
def index(request: HttpRequest, segment_id: uuid.UUID | None = None) -> HttpResponse:
    """The organization's segments with their counts, and the form (a new one, or `segment_id`)."""
    segment = _segment(segment_id) if segment_id else None
    if request.method == "GET":
        initial = SegmentForm.initial_for(segment.name, segment.filters) if segment else None
        return _form_page(request, SegmentForm(initial=initial), segment)
    if not can_write(request.user, Segment):
        return HttpResponse(ONLY_ADMINS, status=403)
    form = SegmentForm(request.POST)
    if form.is_valid():
        try:
            services.save(form.cleaned_data["name"], form.filters(), segment)
        except InvalidFilter as error:
            form.add_error(None, str(error))
        else:
            return redirect("segments:index")
    return _form_page(request, form, segment, status=400)


@require_POST
@inbox_view
def count(request: HttpRequest) -> HttpResponse:
    """How many customers the form's filters select now (the form's live count partial)."""
    form = SegmentForm(request.POST)
    form.fields["name"].required = False  # counting comes before naming
    problem, counted = None, None
    if not form.is_valid():
        problem = "; ".join(f"{form.fields[name].label or name}: {' '.join(errors)}"
                            if name in form.fields else " ".join(errors)
                            for name, errors in form.errors.items())
    else:
        try:
            counted = queries.count(form.filters(), request.user)
        except InvalidFilter as error:
            problem = str(error)
    return render(request, "contacts/_segment_count.html",
                  {"counted": counted, "problem": problem}, status=400 if problem else 200)


@require_POST
@inbox_view
def delete(request: HttpRequest, segment_id: uuid.UUID) -> HttpResponse:
    """Delete a segment (campaigns keep the customers it added to their audiences)."""
    segment = _segment(segment_id)
    if not can_write(request.user, Segment):
        return HttpResponse(ONLY_ADMINS, status=403)
    segment.delete()
    return redirect("segments:index")


@require_GET
@inbox_view
def members(request: HttpRequest, segment_id: uuid.UUID) -> HttpResponse:
    """The first customers a segment selects, to check it before a campaign uses it."""
    segment = _segment(segment_id)
    try:
        customers = list(queries.segment_members(segment, request.user)
                         .order_by("-last_message_at", "id")[:50])
    except InvalidFilter as error:
        return HttpResponse(str(error), status=400)
    return render(request, "contacts/_segment_members.html",
                  {"segment": segment, "customers": customers})
