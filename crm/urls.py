"""URL routes."""
from django.urls import include, path
from django.views.generic import RedirectView

from crm.admin import site as admin_site
from crm.payments.razorpay.webhook import razorpay_webhook
from crm.observability import views as observability
from crm.webhooks.views import whatsapp_webhook

urlpatterns = [
    path("webhooks/whatsapp/", whatsapp_webhook, name="whatsapp-webhook"),
    path("webhooks/razorpay/<str:organization_id>/", razorpay_webhook, name="razorpay-webhook"),
    path("healthz", observability.healthz, name="healthz"),
    path("readyz", observability.readyz, name="readyz"),
    path("metrics", observability.metrics, name="metrics"),
    path("admin/", admin_site.urls),
    path("api/v1/", include("crm.api.urls")),
    path("inbox/", include("crm.inbox.urls")),
    path("contacts/segments/", include("crm.segments.urls")),
    path("contacts/", include("crm.imports.urls")),
    path("campaigns/", include("crm.campaigns.urls")),
    path("reports/", include("crm.reports.urls")),
    path("settings/", include("crm.organizations.urls")),
    path("", include("crm.accounts.urls")),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
