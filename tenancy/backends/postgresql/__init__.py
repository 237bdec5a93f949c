"""PostgreSQL backend that keeps the row-level security settings in step with tenancy.context."""
