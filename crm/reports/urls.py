"""Routes of the report pages, included at /reports/."""
from django.urls import path

from crm.reports import pages

app_name = "reports"

urlpatterns = [
    path("", pages.dashboard, name="dashboard"),
    path("campaigns/<uuid:campaign_id>/", pages.campaign, name="campaign"),
]
