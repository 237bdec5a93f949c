"""Contacts' refusals, each naming the field and saying what to do."""
from __future__ import annotations


class ContactsError(ValueError):
    """A refused change of labels, attributes, notes or status; `field` names what to fix."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class InvalidAttribute(ContactsError):
    """An attribute value (or definition) that its definition refuses; `field` is its key."""


class UnknownLabel(ContactsError):
    """A label name the organization does not have, applied by someone who may not create it."""


class InvalidLabel(ContactsError):
    """A label's name or color is malformed."""


class DuplicateLabel(ContactsError):
    """Another label of the organization has this name (ignoring case)."""


class InvalidNote(ContactsError):
    """A note's body or mentions are malformed."""


class InvalidStatus(ContactsError):
    """A conversation status (or snooze time) that cannot be set."""
