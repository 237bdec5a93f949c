"""The account pages: sign-up, confirmation, joining, password reset, onboarding and team.

Thin: each parses a form, calls one service or query, and renders; a refusal is shown on the
form, on the field it concerns.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from crm.accounts import queries, services, team
from crm.accounts.errors import AccountError
from crm.accounts.forms import (
    EmbeddedSignupForm,
    InviteForm,
    JoinForm,
    NewPasswordForm,
    ResetRequestForm,
    SignUpForm,
)
from crm.models import Invitation, Organization, Role, User
from crm.roles import role_of
from crm.whatsapp.onboarding import connect_number
from crm.whatsapp.refusals import Refused
from tenancy.context import get_current_organization_id, tenant_context

BACKEND = "crm.auth.OrganizationUserBackend"


def _refused(form: forms.Form, error: AccountError) -> None:
    """Show a service's refusal on its field (or the whole form)."""
    form.add_error(error.field if error.field in form.fields else None, error.message)


def _staff_view(admin_only: bool) -> Callable[..., Any]:
    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if user.organization_id is None or get_current_organization_id() != (
                    user.organization_id):
                return HttpResponse("These pages are for an organization's staff.", status=403)
            if admin_only and role_of(user) != Role.ORG_ADMIN:
                return HttpResponse("Only an ORG_ADMIN manages the team.", status=403)
            return view(request, *args, **kwargs)
        return wrapped
    return decorate


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Sign a business up, sign its admin in, and show the onboarding checklist."""
    if not settings.SIGNUP_OPEN:
        return render(request, "accounts/closed.html", status=403)
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            _, admin = services.sign_up(services.SignUp(**form.cleaned_data))
        except AccountError as error:
            _refused(form, error)
        else:
            login(request, admin, backend=BACKEND)
            return redirect("accounts:onboarding")
    return render(request, "accounts/signup.html", {"form": form})


def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The link of the confirmation e-mail."""
    try:
        organization = services.confirm_email(token)
    except AccountError as error:
        return render(request, "accounts/message.html", {
            "title": "Link not valid", "text": error.message}, status=400)
    return render(request, "accounts/message.html", {
        "title": "E-mail confirmed",
        "text": f"{organization.name} may now send messages.", "next": "/onboarding/"})


@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, token: str) -> HttpResponse:
    """An invitation's link: choose a username and password, and join."""
    try:
        organization_id = team.organization_of(token)
        with tenant_context(organization_id):
            invitation = team.pending(token)
    except AccountError as error:
        return render(request, "accounts/message.html", {
            "title": "Link not valid", "text": error.message}, status=400)
    form = JoinForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = team.accept(token, **form.cleaned_data)
        except AccountError as error:
            _refused(form, error)
        else:
            login(request, user, backend=BACKEND)
            return redirect("/inbox/")
    organization = Organization.objects.get(pk=organization_id)
    return render(request, "accounts/join.html", {
        "form": form, "invitation": invitation, "organization": organization})


@require_http_methods(["GET", "POST"])
def reset_request(request: HttpRequest) -> HttpResponse:
    """Ask for a reset link; the answer is the same whether the address exists or not."""
    form = ResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.request_password_reset(**form.cleaned_data)
        return render(request, "accounts/message.html", {
            "title": "Check your e-mail",
            "text": "If this address belongs to a user of this organization, a reset link is "
                    "on its way."})
    return render(request, "accounts/form.html", {
        "form": form, "title": "Reset your password", "button": "Send the link"})


@require_http_methods(["GET", "POST"])
def reset(request: HttpRequest, token: str) -> HttpResponse:
    """A reset link: choose the new password."""
    form = NewPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.reset_password(token, form.cleaned_data["password"])
        except AccountError as error:
            _refused(form, error)
        else:
            return render(request, "accounts/message.html", {
                "title": "Password changed", "text": "Sign in with your new password.",
                "next": "/admin/login/"})
    return render(request, "accounts/form.html", {
        "form": form, "title": "Choose a new password", "button": "Change it"})


@_staff_view(admin_only=False)
def onboarding(request: HttpRequest) -> HttpResponse:
    """The checklist that ticks itself off."""
    organization = Organization.objects.get(pk=get_current_organization_id())
    return render(request, "accounts/onboarding.html", {
        "organization": organization, "steps": queries.checklist(organization)})


@require_POST
@_staff_view(admin_only=True)
def resend_confirmation(request: HttpRequest) -> HttpResponse:
    """Send the confirmation e-mail again."""
    services.send_confirmation(request.user)
    return redirect("accounts:onboarding")


@require_http_methods(["GET", "POST"])
@_staff_view(admin_only=True)
def connect_whatsapp(request: HttpRequest) -> HttpResponse:
    """Meta's Embedded Signup (Facebook JS SDK), posting to the API; by hand in the demo."""
    by_hand = settings.WHATSAPP_EMBEDDED_SIGNUP_BY_HAND
    form = EmbeddedSignupForm(request.POST or None) if by_hand else None
    number, status = None, 200
    if request.method == "POST":
        if form is None:
            return HttpResponse("Embedded Signup posts to /api/v1/whatsapp/embedded-signup/.",
                                status=405)
        if form.is_valid():
            try:
                number = connect_number(**form.cleaned_data)
            except Refused as refusal:
                form.add_error(refusal.field if refusal.field in form.fields else None,
                               refusal.detail)
        if number is None:
            status = 400
    missing = [name for name in ("WHATSAPP_APP_ID", "WHATSAPP_APP_SECRET",
                                 "WHATSAPP_EMBEDDED_SIGNUP_CONFIG_ID")
               if not getattr(settings, name, "")]
    return render(request, "accounts/connect_whatsapp.html", {
        "form": form, "number": number, "missing": missing,
        "numbers": queries.numbers(),
        "app_id": settings.WHATSAPP_APP_ID,
        "config_id": settings.WHATSAPP_EMBEDDED_SIGNUP_CONFIG_ID,
        "graph_version": settings.WHATSAPP_API_VERSION}, status=status)


@require_http_methods(["GET", "POST"])
@_staff_view(admin_only=True)
def team_page(request: HttpRequest) -> HttpResponse:
    """The ORG_ADMIN's team: users, invitations, and a form to invite."""
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team.invite(form.cleaned_data["email"], form.cleaned_data["role"], by=request.user)
        except AccountError as error:
            _refused(form, error)
        else:
            return redirect("accounts:team")
    users, invitations = queries.team()
    return render(request, "accounts/team.html", {
        "form": form, "users": users, "invitations": invitations, "roles": team.TEAM_ROLES})


@require_POST
@_staff_view(admin_only=True)
def team_action(request: HttpRequest, kind: str, pk: str) -> HttpResponse:
    """One change from the team page: a role, (de)activation, resending or revoking."""
    try:
        if kind == "invitation":
            invitation = Invitation.objects.filter(pk=pk).first()
            if invitation is None:
                raise Http404
            if request.POST.get("do") == "resend":
                team.resend(invitation)
            else:
                team.revoke(invitation, by=request.user)
        else:
            user = User.objects.filter(pk=pk).first()
            if user is None:
                raise Http404
            do = request.POST.get("do")
            if do == "deactivate":
                team.deactivate(user, by=request.user)
            elif do == "reactivate":
                team.reactivate(user, by=request.user)
            else:
                team.change_role(user, request.POST.get("role", ""), by=request.user)
    except AccountError as error:
        return HttpResponse(error.message, status=error.status, content_type="text/plain")
    return redirect("accounts:team")
