"""Routes of the account pages, included at the site's root."""
from django.urls import path

from crm.accounts import views

app_name = "accounts"

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("signup/confirm/<str:token>/", views.confirm, name="confirm"),
    path("invitations/<str:token>/", views.join, name="join"),
    path("password-reset/", views.reset_request, name="reset-request"),
    path("password-reset/<str:token>/", views.reset, name="reset"),
    path("onboarding/", views.onboarding, name="onboarding"),
    path("onboarding/resend/", views.resend_confirmation, name="resend"),
    path("team/", views.team_page, name="team"),
    path("whatsapp/connect/", views.connect_whatsapp, name="connect-whatsapp"),
    path("team/invitations/<uuid:pk>/", views.team_action, {"kind": "invitation"},
         name="team-invitation"),
    path("team/users/<uuid:pk>/", views.team_action, {"kind": "user"}, name="team-user"),
]
