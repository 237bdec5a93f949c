"""The forms of the account pages (the API validates the same input with its serializers)."""
from __future__ import annotations

from django import forms
from django.core.validators import RegexValidator

from crm.accounts.team import TEAM_ROLES

USERNAME = RegexValidator(r"^[\w.@+-]+\Z", "Letters, digits and @ . + - _ only.")


class SignUpForm(forms.Form):
    """A business signing up."""

    organization_name = forms.CharField(label="Business name", max_length=255)
    name = forms.CharField(label="Your name", max_length=200)
    email = forms.EmailField(label="Your e-mail", max_length=100)
    username = forms.CharField(max_length=100, validators=[USERNAME])
    password = forms.CharField(max_length=128, widget=forms.PasswordInput)


class JoinForm(forms.Form):
    """Accepting an invitation."""

    name = forms.CharField(label="Your name", max_length=200, required=False)
    username = forms.CharField(max_length=100, validators=[USERNAME])
    password = forms.CharField(max_length=128, widget=forms.PasswordInput)


class ResetRequestForm(forms.Form):
    """Asking for a password reset link."""

    organization = forms.CharField(label="Organization code", max_length=50)
    email = forms.EmailField(label="Your e-mail", max_length=100)


class NewPasswordForm(forms.Form):
    """A new password."""

    password = forms.CharField(label="New password", max_length=128, widget=forms.PasswordInput)


class InviteForm(forms.Form):
    """An ORG_ADMIN inviting someone."""

    email = forms.EmailField(max_length=100)
    role = forms.ChoiceField(choices=[(name, name) for name in TEAM_ROLES])


class EmbeddedSignupForm(forms.Form):
    """Embedded Signup's result typed by hand (demo and tests, against the fake Graph API)."""

    code = forms.CharField(max_length=1000, help_text="FB.login's authResponse.code")
    waba_id = forms.RegexField(r"\A[0-9]{1,100}\Z", label="WhatsApp Business Account id",
                               error_messages={"invalid": "Digits only."})
    phone_number_id = forms.RegexField(r"\A[0-9]{1,100}\Z", label="Phone number id",
                                       error_messages={"invalid": "Digits only."})
