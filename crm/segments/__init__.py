"""Segments: saved filters over the organization's customers, counted live."""
