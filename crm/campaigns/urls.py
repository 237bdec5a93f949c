"""Routes of the campaigns page, included at /campaigns/."""
from django.urls import path

from crm.campaigns import pages

app_name = "campaigns"

urlpatterns = [
    path("", pages.index, name="index"),
    path("preview/", pages.template_preview, name="preview"),
    path("new/", pages.build, name="build"),
    path("<uuid:campaign_id>/", pages.detail, name="detail"),
    path("<uuid:campaign_id>/progress/", pages.progress, name="progress"),
    path("<uuid:campaign_id>/<str:action>/", pages.act, name="act"),
]
