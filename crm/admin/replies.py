"""Replying to a customer from the admin: a small form on the customer's page, sent by
crm.whatsapp.send like the API does."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from pydantic import ValidationError

from crm.models import WhatsAppNumber
from crm.whatsapp.refusals import Refused
from crm.whatsapp.send import send_message


class ReplyForm(forms.Form):
    """A text reply, or a template (outside the 24-hour window), from one of the numbers."""

    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 80}), required=False,
                           max_length=4096, help_text="Within 24 hours of the customer's last "
                           "message.")
    template = forms.CharField(required=False, max_length=512,
                               help_text="Or a template's name (any time)")
    language = forms.CharField(required=False, max_length=15, initial="en")
    from_number = forms.ModelChoiceField(
        queryset=WhatsAppNumber.objects.none(), required=False,
        empty_label="the conversation's number", label="From",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Built per form, inside the request's organization: never at import time.
        self.fields["from_number"].queryset = WhatsAppNumber.objects.filter(is_active=True)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if bool(data.get("text")) == bool(data.get("template")):
            raise forms.ValidationError("Write a text, or name a template: one of the two.")
        if data.get("template") and not data.get("language"):
            raise forms.ValidationError("A template needs its language code (en, en_US, ...).")
        return data

    def payload(self) -> dict[str, Any]:
        """The message to send, as crm.whatsapp.schemas.MessageContent's JSON."""
        data = self.cleaned_data
        if data["text"]:
            return {"type": "text", "text": {"body": data["text"]}}
        return {"type": "template", "template": {"name": data["template"],
                                                 "language": {"code": data["language"]}}}


def reply(model_admin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    """POST: send the reply form's message to the customer, then back to the customer's page."""
    if request.method != "POST":
        raise Http404("Replies are sent with the form on the customer's page.")
    customer = model_admin.get_object(request, unquote(object_id))
    if customer is None:
        raise Http404("No customer of your organization has this id.")
    if not model_admin.has_change_permission(request, customer):
        raise PermissionDenied
    form = ReplyForm(request.POST)
    if not form.is_valid():
        problems = [str(e) for errors in form.errors.values() for e in errors]
        messages.error(request, "Not sent: " + " ".join(problems))
    else:
        try:
            sent = send_message(customer, form.payload(),
                                from_number=form.cleaned_data["from_number"], user=request.user)
        except Refused as refusal:
            messages.error(request, f"Not sent: {refusal.detail}")
        except ValidationError as error:
            messages.error(request, "Not sent: " + "; ".join(
                e["msg"] for e in error.errors(include_url=False, include_input=False)))
        else:
            messages.success(request, f"Sent to {customer} ({sent.message_id}).")
    return HttpResponseRedirect(reverse(
        f"{model_admin.admin_site.name}:crm_customer_change", args=[quote(customer.pk)]
    ))
