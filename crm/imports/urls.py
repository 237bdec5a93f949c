"""Routes of the contacts page, included at /contacts/."""
from django.urls import path

from crm.imports import pages

app_name = "contacts"

urlpatterns = [
    path("", pages.index, name="index"),
    path("import/", pages.upload, name="upload"),
    path("imports/<uuid:import_id>/", pages.progress, name="progress"),
]
