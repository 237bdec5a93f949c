"""URL routes."""
from django.urls import include, path

from crm.admin import site as admin_site

urlpatterns = [
    path("admin/", admin_site.urls),
    path("api/v1/", include("crm.api.urls")),
]
