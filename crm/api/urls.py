"""Routes of /api/v1/."""
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from crm.api import schema  # noqa: F401  (registers the token scheme)
from crm.api.accounts import (
    AcceptInvitationView,
    AuditEventViewSet,
    ConfirmEmailView,
    InvitationViewSet,
    MeView,
    PasswordResetConfirmView,
    PasswordResetView,
    SignUpView,
    TeamViewSet,
)
from crm.api.contacts import (
    ConversationNotesView,
    ConversationStatusView,
    CustomerAttributesView,
    CustomerLabelsView,
)
from crm.api.conversations import (
    ConversationEventsView,
    ConversationListView,
    ConversationReadView,
)
from crm.api.integrations import IntegrationTestView, IntegrationView
from crm.api.media import MediaUploadView
from crm.api.numbers import EmbeddedSignupView
from crm.api.organization import OrganizationLogoView, OrganizationView
from crm.api.platform import OrganizationsView, SuspensionView
from crm.api.resources import RESOURCES
from crm.api.views import ObtainTokenView
from crm.campaigns.views import urls as campaign_action_urls
from crm.imports.views import urls as contact_import_urls
from crm.integrations import registry
from crm.lifecycle.views import urls as lifecycle_urls
from crm.reports.views import urls as report_urls
from crm.zoho.views import urls as lead_action_urls

router = DefaultRouter()
for resource in RESOURCES:
    router.register(resource.prefix, resource.viewset(), basename=resource.prefix)
# Not generic resources (crm.api.resources): their writes are crm.accounts' services.
router.register("invitations", InvitationViewSet, basename="invitations")
router.register("audit-events", AuditEventViewSet, basename="audit-events")
router.register("team", TeamViewSet, basename="team")

urlpatterns = [
    # With or without the trailing slash every other endpoint has (older clients omit it).
    re_path(r"^auth/token/?$", ObtainTokenView.as_view(), name="api-token"),
    path("signup/", SignUpView.as_view(), name="api-signup"),
    path("signup/confirm/", ConfirmEmailView.as_view(), name="api-signup-confirm"),
    path("me/", MeView.as_view(), name="api-me"),
    path("invitations/accept/", AcceptInvitationView.as_view(), name="api-invitation-accept"),
    path("password-reset/", PasswordResetView.as_view(), name="api-password-reset"),
    path("password-reset/confirm/", PasswordResetConfirmView.as_view(),
         name="api-password-reset-confirm"),
    path("platform/organizations/", OrganizationsView.as_view(), name="api-platform-orgs"),
    path("platform/organizations/<uuid:pk>/suspend/", SuspensionView.as_view(suspend=True),
         name="api-platform-suspend"),
    path("platform/organizations/<uuid:pk>/reactivate/", SuspensionView.as_view(suspend=False),
         name="api-platform-reactivate"),
    path("media/", MediaUploadView.as_view(), name="api-media"),
    path("whatsapp/embedded-signup/", EmbeddedSignupView.as_view(),
         name="api-embedded-signup"),
    path("organization/", OrganizationView.as_view(), name="api-organization"),
    path("organization/logo/", OrganizationLogoView.as_view(), name="api-organization-logo"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("conversations/", ConversationListView.as_view(), name="api-conversations"),
    path("conversations/events/", ConversationEventsView.as_view(), name="api-conversation-events"),
    path("conversations/<uuid:customer_id>/read/", ConversationReadView.as_view(),
         name="api-conversation-read"),
    path("conversations/<uuid:customer_id>/notes/", ConversationNotesView.as_view(),
         name="api-conversation-notes"),
    path("conversations/<uuid:customer_id>/status/", ConversationStatusView.as_view(),
         name="api-conversation-status"),
    path("customers/<uuid:customer_id>/labels/", CustomerLabelsView.as_view(),
         name="api-customer-labels"),
    path("customers/<uuid:customer_id>/attributes/", CustomerAttributesView.as_view(),
         name="api-customer-attributes"),
    *campaign_action_urls(),
    *contact_import_urls(),
    *lifecycle_urls(),
    # One route per registered provider (crm.integrations.registry): any other name is a 404.
    *(path(f"integrations/{name}/", IntegrationView.as_view(), {"provider": name},
           name=f"api-integration-{name}") for name in registry.names()),
    *(path(f"integrations/{name}/test/", IntegrationTestView.as_view(), {"provider": name},
           name=f"api-integration-test-{name}") for name in registry.names()),
    *lead_action_urls(),
    *report_urls(),
    path("", include(router.urls)),
]
