"""An organization's own settings: the ORG_ADMIN's page at /settings/ and its logo."""
