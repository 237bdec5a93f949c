"""The campaign builder: a template campaign made from an approved template, each parameter mapped
to a customer field, a custom attribute or a fixed text (stored as the `{{placeholders}}` that
crm.campaigns.personalise fills per recipient), its audience, what a run would send, skip and
cost, and sending it now or at a time. No JSON is typed by anyone: the content is built here.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from crm.campaigns import audience, services
from crm.campaigns.content import is_marketing, message_content
from crm.campaigns.errors import AudienceRefused, CampaignActionError
from crm.models import (
    AttributeDefinition, Campaign, CampaignCustomer, CampaignRecipient, Cost, Job, Template, User,
)
from crm.storable import PROBLEM, unstorable
from crm.whatsapp.template_parameters import BAD_TEXT, MEDIA_FORMATS, placeholders

APPROVED = "APPROVED"
# What a parameter may be filled with, besides `attribute.<key>` and `text`.
FIELDS = {"name": "{{customer_name}}", "phone": "{{customer_phone}}"}


class BuilderRefused(CampaignActionError):
    """A builder form value that cannot be used; `field` names the form field (HTTP 400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Parameter:
    """One placeholder of a template: where it is, and its form field."""

    component: str  # header, body or button
    name: str  # the placeholder: 1, 2, ... or a named one
    index: int | None = None  # the button's position
    media: str | None = None  # a media header's kind (image, video, document)

    @property
    def field(self) -> str:
        """The form field that maps it."""
        where = self.component if self.index is None else f"button{self.index}"
        return f"param_{where}_{self.name}"


def approved_templates() -> QuerySet[Template]:
    """The organization's own and shared templates Meta approved (or of unknown status)."""
    return Template.objects.filter(
        Q(status__isnull=True) | Q(status="") | Q(status__iexact=APPROVED)
    ).order_by("template_name", "language")


def find_template(value: Any) -> Template | None:
    """The approved template of this id the organization may use, or None."""
    try:
        key = uuid.UUID(str(value))
    except ValueError:
        return None
    return approved_templates().filter(pk=key).first()


def _component(template: Template, kind: str) -> dict[str, Any]:
    return next((c for c in template.components if isinstance(c, dict)
                 and str(c.get("type", "")).upper() == kind), {})


def parameters(template: Template) -> list[Parameter]:
    """The template's placeholders in the order Meta fills them: header, body, buttons."""
    header = _component(template, "HEADER")
    fmt = str(header.get("format", "TEXT")).upper()
    found = [Parameter("header", "1", media=MEDIA_FORMATS[fmt])] if fmt in MEDIA_FORMATS else [
        Parameter("header", name) for name in placeholders(header.get("text"))]
    found += [Parameter("body", name) for name in placeholders(_component(template, "BODY")
                                                               .get("text"))]
    for index, button in enumerate(_component(template, "BUTTONS").get("buttons") or []):
        if isinstance(button, dict) and str(button.get("type", "")).upper() == "URL":
            found += [Parameter("button", name, index) for name in placeholders(button.get("url"))]
    return found


def preview(template: Template, mapping: Any = None) -> dict[str, Any]:
    """What the builder shows of a template: its texts and buttons, and its parameters with what
    `mapping` (the form sent back after a refusal) chose for them."""
    mapping = mapping or {}
    header = _component(template, "HEADER")
    return {
        "template": template, "header": header.get("text") or "",
        "header_media": MEDIA_FORMATS.get(str(header.get("format", "")).upper()),
        "body": _component(template, "BODY").get("text") or "",
        "footer": _component(template, "FOOTER").get("text") or "",
        "buttons": [b for b in _component(template, "BUTTONS").get("buttons") or []
                    if isinstance(b, dict)],
        "parameters": [{"parameter": p, "source": mapping.get(p.field, "name"),
                        "text": mapping.get(f"text_{p.field}", "")} for p in parameters(template)],
        "attributes": list(AttributeDefinition.objects.values_list("key", flat=True)),
    }


def _value(parameter: Parameter, source: str, text: str, attributes: set[str]) -> str:
    """The placeholder or fixed text that fills `parameter`."""
    if parameter.media is not None:
        source = "text"  # a media header takes the media's link
    if source in FIELDS:
        return FIELDS[source]
    if source.startswith("attribute.") and source[10:] in attributes:
        return "{{" + source + "}}"
    if source != "text":
        raise BuilderRefused(parameter.field, "choose the customer's name, phone, one of your "
                             "custom attributes, or a fixed text.")
    text = text.strip()
    if unstorable(text):
        raise BuilderRefused(f"text_{parameter.field}", f"the text {PROBLEM}.")
    if not text:
        raise BuilderRefused(f"text_{parameter.field}", "type the fixed text (or, for a media "
                             "header, the media's https link).")
    if "{{" in text or BAD_TEXT.search(text):
        raise BuilderRefused(f"text_{parameter.field}", "a fixed text may not hold {{, newlines, "
                             "tabs or more than four spaces in a row (WhatsApp refuses them).")
    return text


def content(template: Template, mapping: dict[str, str]) -> dict[str, Any]:
    """The campaign's content: the template message with each parameter filled as `mapping`
    (form field -> source, `text_<field>` -> fixed text) says."""
    attributes = set(AttributeDefinition.objects.values_list("key", flat=True))
    components: dict[tuple[str, int | None], dict[str, Any]] = {}
    for parameter in parameters(template):
        value = _value(parameter, mapping.get(parameter.field, ""),
                       mapping.get(f"text_{parameter.field}", ""), attributes)
        component = components.setdefault((parameter.component, parameter.index), {
            "type": parameter.component, "parameters": [],
            **({"sub_type": "url", "index": parameter.index} if parameter.index is not None
               else {})})
        if parameter.media:
            filled: dict[str, Any] = {"type": parameter.media, parameter.media: {"link": value}}
        else:
            filled = {"type": "text", "text": value}
            if not parameter.name.isdigit():
                filled["parameter_name"] = parameter.name
        component["parameters"].append(filled)
    built: dict[str, Any] = {"name": template.template_name,
                             "language": {"code": template.language}}
    if components:
        built["components"] = list(components.values())
    if template.category:
        built["category"] = str(template.category).upper()
    return built


def build(user: User, name: str, template: Template, mapping: dict[str, str],
          choice: dict[str, Any]) -> Campaign:
    """Create the campaign and add its audience (`choice`, as crm.campaigns.audience takes it);
    nothing is saved when any part is refused."""
    if not name.strip():
        raise BuilderRefused("name", "give the campaign a name.")
    if unstorable(name):
        raise BuilderRefused("name", f"the name {PROBLEM}.")
    built = content(template, mapping)
    now = timezone.now()
    with transaction.atomic():
        campaign = Campaign.objects.create(
            name=name.strip()[:255], type=Campaign.Type.TEMPLATE, content=built,
            created_by=user, updated_by=user, created_at=now, updated_at=now, status="draft",
            campaign_cost_type=Cost.objects.filter(type=Campaign.Type.TEMPLATE).first(),
        )
        try:
            audience.add_audience(campaign, choice)
        except AudienceRefused as error:
            field = "audience" if error.field == "customer_ids" else error.field
            raise BuilderRefused(field, str(error)) from None
    return campaign


def estimate(campaign: Campaign) -> dict[str, Any]:
    """How many a run would send and skip (opted out of marketing), and what it would cost."""
    chosen = CampaignCustomer.objects.filter(campaign=campaign)
    total = chosen.count() + CampaignRecipient.objects.filter(campaign=campaign).count()
    skipped = (chosen.filter(customer__marketing_opt_out_at__isnull=False).count()
               if is_marketing(campaign) else 0)
    cost = campaign.campaign_cost_type or Cost.objects.filter(type=campaign.type).first()
    to_send = total - skipped
    return {"total": total, "to_send": to_send, "skipped": skipped,
            "price": cost.price if cost else None,
            "cost": round(cost.price * to_send, 2) if cost else None}


def send(campaign: Campaign, user: User, at: datetime | None = None) -> Job | None:
    """Run the campaign now, or schedule it for `at` (Celery beat starts it then)."""
    if not estimate(campaign)["to_send"]:
        raise BuilderRefused("audience", "nobody would be sent this campaign: add customers who "
                             "have not opted out.")
    if at is None:
        return services.run_campaign(campaign, user)
    if at <= timezone.now():
        raise BuilderRefused("scheduled_at", "choose a time in the future, or send now.")
    message_content(campaign)  # refuse content WhatsApp would refuse now, not then
    Campaign.objects.filter(pk=campaign.pk).update(scheduled_at=at, status="scheduled",
                                                   updated_by=user, updated_at=timezone.now())
    return None
