"""The segment page's form: each filter a field a person fills in, turned into the filters JSON
the API takes (crm.segments.filters checks both the same way)."""
from __future__ import annotations

from typing import Any

from django import forms

from crm.models import AttributeDefinition, Label
from crm.segments.errors import InvalidFilter
from crm.segments.filters import check_filters

EITHER = [("", "either"), ("yes", "yes"), ("no", "no")]
ATTRIBUTE = "attribute_"  # the prefix of each attribute's field


class SegmentForm(forms.Form):
    """A segment's name and filters; the labels and attributes offered are the organization's."""

    name = forms.CharField(max_length=200)
    labels = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple,
                                       help_text="Customers with any of these labels.")
    last_message_after = forms.DateField(required=False, label="Last message on or after",
                                         widget=forms.DateInput(attrs={"type": "date"}))
    last_message_before = forms.DateField(required=False, label="Last message before",
                                          widget=forms.DateInput(attrs={"type": "date"}))
    source = forms.ChoiceField(required=False, label="Came from an ad", choices=[
        ("", "any source"), ("any", "any click-to-WhatsApp ad"), ("one", "this ad:")])
    source_ad = forms.CharField(required=False, max_length=200, label="Ad id")
    opted_out = forms.ChoiceField(required=False, choices=EITHER,
                                  label="Stopped marketing messages")
    has_ordered = forms.ChoiceField(required=False, choices=EITHER, label="Has ordered")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["labels"].choices = [(label.name, label.name)
                                         for label in Label.objects.order_by("name")]
        for definition in AttributeDefinition.objects.order_by("label"):
            self.fields[ATTRIBUTE + definition.key] = forms.CharField(
                required=False, label=definition.label,
                help_text=(f"one of {', '.join(definition.choices)}"
                           if definition.type == AttributeDefinition.Type.CHOICE
                           else definition.type))

    @classmethod
    def initial_for(cls, name: str, filters: dict[str, Any]) -> dict[str, Any]:
        """The form's initial values for a saved segment."""
        yes_no = {True: "yes", False: "no"}
        source_ad = filters.get("source_ad")
        return {
            "name": name, "labels": filters.get("labels", []),
            "last_message_after": filters.get("last_message_after"),
            "last_message_before": filters.get("last_message_before"),
            "source": "" if source_ad is None else ("any" if source_ad == "any" else "one"),
            "source_ad": "" if source_ad in (None, "any") else source_ad,
            "opted_out": yes_no.get(filters.get("opted_out"), ""),
            "has_ordered": yes_no.get(filters.get("has_ordered"), ""),
            **{ATTRIBUTE + key: str(value).lower() if isinstance(value, bool) else value
               for key, value in filters.get("attributes", {}).items()},
        }

    def filters(self) -> dict[str, Any]:
        """The checked filters of a valid form; a wrong one becomes an error of the form."""
        data = self.cleaned_data
        filters: dict[str, Any] = {}
        if data.get("labels"):
            filters["labels"] = data["labels"]
        for name in ("last_message_after", "last_message_before"):
            if data.get(name):
                filters[name] = data[name].isoformat()
        if data.get("source") == "any":
            filters["source_ad"] = "any"
        elif data.get("source") == "one":
            if not data.get("source_ad", "").strip():
                raise InvalidFilter("source_ad: give the ad's id, or choose any ad.")
            filters["source_ad"] = data["source_ad"].strip()
        for name in ("opted_out", "has_ordered"):
            if data.get(name):
                filters[name] = data[name] == "yes"
        attributes = {name[len(ATTRIBUTE):]: value.strip() for name, value in data.items()
                      if name.startswith(ATTRIBUTE) and value and value.strip()}
        if attributes:
            filters["attributes"] = attributes
        return check_filters(filters)
