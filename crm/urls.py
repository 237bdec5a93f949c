"""URL routes."""
from django.urls import include, path
from django.views.generic import RedirectView

from crm.admin import site as admin_site
from crm.observability import views as observability
from crm.webhooks.views import whatsapp_webhook

urlpatterns = [
    path("webhooks/whatsapp/", whatsapp_webhook, name="whatsapp-webhook"),
    path("healthz", observability.healthz, name="healthz"),
    path("readyz", observability.readyz, name="readyz"),
    path("metrics", observability.metrics, name="metrics"),
    path("admin/", admin_site.urls),
    path("api/v1/", include("crm.api.urls")),
    path("inbox/", include("crm.inbox.urls")),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
