"""An organization's data as a whole: its export, a customer's erasure, its deletion."""
