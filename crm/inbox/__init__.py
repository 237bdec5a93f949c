"""The agent inbox: conversations per organization, live (queries, services, events, views)."""
