"""Contacts: labels and typed attributes of customers, the team's private notes, and the
conversation status (open, pending, resolved, snoozed until)."""
