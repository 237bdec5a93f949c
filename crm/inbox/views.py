"""The inbox pages at /inbox/: thin views over crm.inbox.queries and crm.inbox.services."""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from functools import wraps
from typing import Any

from django.db import connections
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from crm.automation import services as automation
from crm.contacts import queries as contact_queries
from crm.contacts import services as contacts
from crm.contacts.errors import ContactsError
from crm.inbox import events, queries, replies, services
from crm.inbox.orders import line_from_form, orders_context
from crm.inbox.access import inbox_view
from crm.visibility import agents_limited, visible_event
from crm.models import Customer, Order, User, WhatsAppNumber
from crm.orders.services import create_order as create_order_service
from crm.payments.services import send_payment_link
from crm.webhooks.numbers import digits
from crm.whatsapp.refusals import Refused
from tenancy.context import tenant_context

PAUSE_HOURS_MAX = 24 * 365  # "talk to a human" for at most a year
SNOOZE_CHOICES = ((1, "1 hour"), (4, "4 hours"), (24, "1 day"), (72, "3 days"), (168, "1 week"))


def bad_request_as_400(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A malformed filter or cursor answers 400 with the message saying how to fix it."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except queries.BadRequest as error:
            return HttpResponse(str(error), status=400, content_type="text/plain")

    return wrapped


def _customer(request: HttpRequest, customer_id: uuid.UUID) -> Customer:
    customer = queries.conversation(request.user, customer_id)
    if customer is None:
        raise Http404("No such conversation.")
    return customer


def _list_context(request: HttpRequest) -> dict[str, Any]:
    """The list's page; raises queries.BadRequest on malformed filters (answered 400)."""
    filters = queries.Filters.from_params(request.GET)
    contacts.wake_snoozed()  # snoozes that ended open again before the list is read
    page = queries.conversations(request.user, filters, request.GET.get("cursor") or None)
    query = request.GET.copy()
    query.pop("cursor", None)
    return {"page": page, "query": query.urlencode(), "current_id": None}


def _composer_context(customer: Customer) -> dict[str, Any]:
    window_left = queries.window_left(customer)
    return {
        "customer": customer,
        "window_left": window_left,
        "window_text": queries.remaining(window_left),
        "templates": replies.approved_templates(),
    }


def _thread_context(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    return {
        **_composer_context(customer),
        "items": queries.thread(customer),
        "waiting": queries.is_waiting(customer),
        "agents": services.agents(),
        "panel": contact_queries.panel(customer),
        "statuses": Customer.ConversationStatus.choices,
        "snooze_choices": SNOOZE_CHOICES,
        "automation_paused_until": (
            customer.automation_paused_until
            if customer.automation_paused_until and customer.automation_paused_until
            > timezone.now() else None),
        **orders_context(customer),
    }


@require_GET
@inbox_view
@bad_request_as_400
def index(request: HttpRequest, customer_id: uuid.UUID | None = None) -> HttpResponse:
    """The whole inbox: the list, and the open conversation if any."""
    context = {
        **_list_context(request),
        "numbers": [
            (digits(number.display_number), str(number))
            for number in WhatsAppNumber.objects.filter(is_active=True).order_by("display_number")
        ],
        "organization": request.inbox_organization,
        "quick_replies": queries.quick_replies(),
        "labels": contact_queries.all_labels(),
        "statuses": Customer.ConversationStatus.choices,
    }
    if customer_id is not None:
        context.update(_thread_context(request, _customer(request, customer_id)))
        context["current_id"] = context["customer"].pk
    return render(request, "inbox/index.html", context)


@require_GET
@inbox_view
@bad_request_as_400
def conversation_list(request: HttpRequest) -> HttpResponse:
    """The list alone (htmx: filters, paging, live refresh)."""
    template = "inbox/_rows.html" if request.GET.get("cursor") else "inbox/_list.html"
    return render(request, template, _list_context(request))


@require_GET
@inbox_view
def thread(request: HttpRequest, customer_id: uuid.UUID) -> HttpResponse:
    """The open conversation's messages and header (htmx: live refresh)."""
    customer = _customer(request, customer_id)
    return render(request, "inbox/_thread.html", _thread_context(request, customer))


@require_POST
@inbox_view
def mark_read(request: HttpRequest, customer_id: uuid.UUID) -> HttpResponse:
    """Mark the conversation read up to now."""
    customer = _customer(request, customer_id)
    try:
        services.mark_read(customer)
    except Refused as refusal:
        return HttpResponse(f"Marked read here; WhatsApp was not told: {refusal.detail}",
                            status=refusal.status, content_type="text/plain")
    return render(request, "inbox/_thread.html", _thread_context(request, customer))


@require_POST
@inbox_view
def assign(request: HttpRequest, customer_id: uuid.UUID) -> HttpResponse:
    """Assign the conversation (form field `agent`: a user id, or empty to unassign)."""
    customer = _customer(request, customer_id)
    agent = None
    if value := request.POST.get("agent", ""):
        try:
            agent = User.objects.filter(pk=uuid.UUID(value)).first()
        except ValueError:
            agent = None
        if agent is None:
            return HttpResponse("agent: choose one of the organization's staff.", status=400)
    try:
        services.assign(customer, agent, by=request.user)
    except services.NotAllowed as error:
        return HttpResponse(str(error), status=403)
    return render(request, "inbox/_thread.html", _thread_context(request, customer))


@require_POST
@inbox_view
def pause_automation(request: HttpRequest, customer_id: uuid.UUID) -> HttpResponse:
    """Talk to a human: pause the bot here for `hours` (form field, default 24); 0 resumes it."""
    customer = _customer(request, customer_id)
    value = request.POST.get("hours", "24")
    hours = int(value) if value.isascii() and value.isdigit() and len(value) <= 4 else -1
    if not 0 <= hours <= PAUSE_HOURS_MAX:
        return HttpResponse(f"hours: give a whole number from 0 (resume) to {PAUSE_HOURS_MAX}.",
                            status=400)
    automation.pause(customer, timezone.now() + timedelta(hours=hours) if hours else None)
    return render(request, "inbox/_thread.html", _thread_context(request, customer))


def contact_change(view: Callable[..., None]) -> Callable[..., HttpResponse]:
    """A change from the contact panel: the conversation `user` may see, the change made by
    `view(request, customer)`, then the thread again; a refused change answers 400 saying why."""

    @require_POST
    @inbox_view
    @wraps(view)
    def wrapped(request: HttpRequest, customer_id: uuid.UUID) -> HttpResponse:
        customer = _customer(request, customer_id)
        try:
            view(request, customer)
        except ContactsError as error:
            return HttpResponse(str(error), status=400, content_type="text/plain")
        customer.refresh_from_db()
        return render(request, "inbox/_thread.html", _thread_context(request, customer))

    return wrapped


@contact_change
def labels(request: HttpRequest, customer: Customer) -> None:
    """Put the label `add` on the customer, or take `remove` off."""
    if name := request.POST.get("add", "").strip():
        contacts.add_labels(customer, [name], by=request.user)
    if name := request.POST.get("remove", "").strip():
        contacts.remove_labels(customer, [name], by=request.user)


@contact_change
def attributes(request: HttpRequest, customer: Customer) -> None:
    """Set the attributes posted as `attr.<key>` (empty: remove)."""
    contacts.set_attributes(customer, {
        name.removeprefix("attr."): value for name, value in request.POST.items()
        if name.startswith("attr.")}, by=request.user)


@contact_change
def note(request: HttpRequest, customer: Customer) -> None:
    """Add a private note (`body`; @username mentions an agent)."""
    contacts.add_note(customer, request.POST.get("body", ""), by=request.user)


@contact_change
def status(request: HttpRequest, customer: Customer) -> None:
    """Set the conversation's `status`; snoozed for `snooze_hours` (default 24)."""
    value = request.POST.get("status", "")
    until = None
    if value == Customer.ConversationStatus.SNOOZED:
        hours = request.POST.get("snooze_hours", "24")
        if hours not in {str(choice) for choice, _ in SNOOZE_CHOICES}:
            raise ContactsError("snooze_hours", "choose one of the offered durations.")
        until = timezone.now() + timedelta(hours=int(hours))
    contacts.set_status(customer, value, until=until, by=request.user)


@require_POST
@inbox_view
def reply(request: HttpRequest, customer_id: uuid.UUID) -> HttpResponse:
    """Send from the composer: a template (`template`, `parameters`), a `file` (its caption in
    `text`), or `text`. A refusal (window closed, Meta's error...) answers its status and why."""
    customer = _customer(request, customer_id)
    try:
        if key := request.POST.get("template"):
            replies.reply_template(customer, key, request.POST.getlist("parameters"),
                                   request.user, request.POST.get("fields_for", ""))
        elif upload := request.FILES.get("file"):
            replies.reply_file(customer, upload, request.POST.get("text", ""), request.user)
        else:
            replies.reply_text(customer, request.POST.get("text", ""), request.user)
    except Refused as refusal:
        return HttpResponse(refusal.detail, status=refusal.status, content_type="text/plain")
    if not request.htmx:  # a plain form post (no script): back to the conversation's page
        return redirect("inbox:conversation", customer_id=customer.pk)
    customer.refresh_from_db()
    return render(request, "inbox/_thread.html", _thread_context(request, customer))


@require_POST
@inbox_view
def create_order(request: HttpRequest, customer_id: uuid.UUID) -> HttpResponse:
    """A one-line order for this customer (form: `product`, or `name` and `unit_price`;
    `quantity`), its total computed by crm.orders."""
    customer = _customer(request, customer_id)
    try:
        create_order_service(customer, [line_from_form(request.POST)])
    except Refused as refusal:
        return HttpResponse(refusal.detail, status=refusal.status, content_type="text/plain")
    return render(request, "inbox/_thread.html",
                  {**_thread_context(request, customer), "order_notice": "Order created."})


@require_POST
@inbox_view
def payment_link(request: HttpRequest, customer_id: uuid.UUID,
                 order_id: uuid.UUID) -> HttpResponse:
    """Create the order's Razorpay payment link and send it to the customer on WhatsApp."""
    customer = _customer(request, customer_id)
    order = Order.objects.filter(pk=order_id, customer=customer).first()
    if order is None:
        raise Http404("No such order in this conversation.")
    try:
        sent = send_payment_link(order, user=request.user)
    except Refused as refusal:
        return HttpResponse(refusal.detail, status=refusal.status, content_type="text/plain")
    notice = ("Payment link sent." if sent.refusal is None else
              f"Link {sent.payment.razorpay_short_url} created but not sent: "
              f"{sent.refusal.detail}")
    return render(request, "inbox/_thread.html",
                  {**_thread_context(request, customer), "order_notice": notice})


@require_GET
@inbox_view
def composer(request: HttpRequest, customer_id: uuid.UUID) -> HttpResponse:
    """The composer alone (htmx: it turns to free text when the customer writes again)."""
    return render(request, "inbox/_composer.html",
                  _composer_context(_customer(request, customer_id)))


@require_GET
@inbox_view
def template_fields(request: HttpRequest, customer_id: uuid.UUID) -> HttpResponse:
    """The parameter inputs of the template chosen in the composer (htmx)."""
    customer = _customer(request, customer_id)
    key = request.GET.get("template", "")
    choice = next((c for c in replies.approved_templates() if c.key == key), None)
    return render(request, "inbox/_template_fields.html", {"customer": customer, "choice": choice})


@require_GET
@inbox_view
def stream(request: HttpRequest) -> HttpResponseBase:
    """Server-sent events of the request's organization only (see crm.inbox.events); over a
    cap, 429 with Retry-After (the page then refreshes itself and tries again later)."""
    try:
        return event_stream(request.inbox_organization.pk, request.user)
    except events.StreamRefused as refusal:
        return HttpResponse(str(refusal), status=refusal.status, content_type="text/plain",
                            headers={"Retry-After": str(refusal.retry_after)})


def event_stream(organization_id: uuid.UUID, user: Any) -> StreamingHttpResponse:
    """The open stream as a response; raises events.StreamRefused over a cap.

    Run inside the organization: whether `user` sees only their own conversations is decided
    here, once; such a stream then passes on only the events of those (crm.visibility).
    """
    keep = _own_events(organization_id, user) if agents_limited(user) else None
    response = StreamingHttpResponse(EventBody(events.subscribe(organization_id, user.pk), keep),
                                     content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # proxies must not hold events back
    return response


def _own_events(organization_id: uuid.UUID, user: Any) -> Callable[[dict[str, Any]], Any]:
    """A filter of the stream's events to those of `user`'s conversations."""

    def keep(event: dict[str, Any]) -> dict[str, Any] | None:
        # The body is iterated after the request's organization was reset: set it again.
        try:
            with tenant_context(organization_id):
                return visible_event(user, event)
        finally:
            connections.close_all()  # the stream holds no database connection while it waits

    return keep


class EventBody:
    """A stream's response body. The server closes the response when it ends (the client gone
    included), and Django then calls `close()`, which frees the stream's slots, even if the body
    was never iterated."""

    def __init__(self, opened: events.Stream,
                 keep: Callable[[dict[str, Any]], Any] | None = None) -> None:
        self.stream = opened
        self.keep = keep

    def __iter__(self) -> Iterator[bytes]:
        return sse(self.stream, self.keep)

    def close(self) -> None:
        """End the stream."""
        self.stream.close()


def sse(opened: events.Stream,
        keep: Callable[[dict[str, Any]], Any] | None = None) -> Iterator[bytes]:
    """The event-stream body: each event as `data:` JSON, a comment line while quiet. A write to
    a client that went away fails at the next heartbeat, and the server then closes the stream."""
    connections.close_all()  # the stream holds no database connection while it waits
    yield b"retry: 2000\n\n"
    for event in opened:
        if event is None:
            yield b": keep-alive\n\n"
        elif keep is None or (event := keep(event)) is not None:
            yield f"data: {json.dumps(event)}\n\n".encode()
