"""wb-crm-django; the Celery app loads with Django so tasks are registered everywhere."""
from crm.celery import app as celery_app

__all__ = ["celery_app"]
