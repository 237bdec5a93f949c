"""Automation: each organization's rules answering customers' messages (see README, Automation)."""
