"""Running campaigns: queueing a job (services), sending it (Celery tasks), its progress."""
