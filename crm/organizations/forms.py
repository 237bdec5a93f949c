"""The settings page's forms (the API checks the same settings with its serializer)."""
from __future__ import annotations

import json

from django import forms

from crm.admin.forms import StorableJSONField
from crm.models import Organization


class BusinessHoursField(StorableJSONField):
    """Business hours as JSON text, shown indented; what PostgreSQL could not store (a NUL, a
    lone surrogate) is a form error shown back as typed."""

    def prepare_value(self, value: object) -> str:
        if isinstance(value, str):
            return value
        return json.dumps(value if value is not None else {}, indent=1)


class OrganizationSettingsForm(forms.ModelForm):
    """Name, time zone, business hours, default country, whether agents see all conversations;
    the model's `clean` refuses an unknown time zone or country and malformed hours."""

    business_hours = BusinessHoursField(
        required=False, widget=forms.Textarea(attrs={"rows": 6}),
        help_text='Per weekday "mon".."sun" a list of ["HH:MM", "HH:MM"] intervals, [] when '
                  "closed; {} (not set): always open.")

    class Meta:
        model = Organization
        fields = ("name", "time_zone", "business_hours", "default_country", "agents_see_all")
        labels = {"agents_see_all": "Agents see all conversations"}

    def clean_business_hours(self) -> object:
        value = self.cleaned_data.get("business_hours")
        return {} if value in (None, "") else value


class LogoForm(forms.Form):
    """A logo to upload."""

    logo = forms.FileField(
        help_text="PNG, JPEG or WebP, at most 1 MB and 4096x4096 pixels.",
        widget=forms.FileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}))
