"""Orders: created with their items (totals computed here), moved through their states."""
