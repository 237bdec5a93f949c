"""Reports: message pricing and usage, roll-ups, campaign reports and the dashboard."""
