"""The account e-mails, through Django's mail framework (console in the demo, EMAIL_URL else)."""
from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail


def _send(to: str, subject: str, body: str) -> None:
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to])


def confirm_email(to: str, organization: str, link: str) -> None:
    """The sign-up's confirmation link."""
    _send(to, f"Confirm your e-mail for {organization}",
          f"Welcome to wb-crm.\n\nConfirm your e-mail address to let {organization} send "
          f"messages:\n\n{link}\n\nThe link works for {settings.EMAIL_CONFIRM_DAYS} days.\n")


def invitation(to: str, organization: str, role: str, link: str) -> None:
    """An invitation to join an organization."""
    _send(to, f"You are invited to {organization} on wb-crm",
          f"You are invited to join {organization} as {role}.\n\nChoose your username and "
          f"password here:\n\n{link}\n\nThe link works once, for "
          f"{settings.INVITATION_DAYS} days.\n")


def password_reset(to: str, organization: str, username: str, link: str) -> None:
    """A password reset link for one user of one organization."""
    _send(to, "Reset your wb-crm password",
          f"Someone asked to reset the password of {username} at {organization}.\n\nChoose a new "
          f"password here (the link works once, for {settings.PASSWORD_RESET_HOURS} hours):\n\n"
          f"{link}\n\nIf it was not you, ignore this e-mail.\n")
