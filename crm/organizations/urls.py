"""Routes of the settings page and the logo, included at /settings/."""
from django.urls import path, re_path

from crm.organizations import views

app_name = "organization"

urlpatterns = [
    path("", views.settings_page, name="settings"),
    path("logo/", views.logo_upload, name="logo-upload"),
    re_path(r"^logo/(?P<file_name>[0-9a-f]{32}\.(?:png|jpg|webp))$", views.logo, name="logo"),
]
