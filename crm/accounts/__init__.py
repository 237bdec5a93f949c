"""Self-serve accounts: sign-up, e-mail confirmation, invitations, password reset, the team."""
