"""URL routes."""
from django.urls import include, path

from crm.webhooks.views import whatsapp_webhook

from crm.admin import site as admin_site

urlpatterns = [
    path("webhooks/whatsapp/", whatsapp_webhook, name="whatsapp-webhook"),
    path("admin/", admin_site.urls),
    path("api/v1/", include("crm.api.urls")),
]
