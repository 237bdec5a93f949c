"""/api/v1/ endpoints of the account lifecycle: sign-up, me, invitations, team, password reset,
the audit log (crm.accounts does the writes; these views parse and answer)."""
from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.accounts import services, team
from crm.api.views import OrganizationScopedMixin, ReadOnlyTenantViewSet, TenantViewSet
from crm.models import AuditEvent, Invitation, Role, User
from crm.roles import is_platform_staff, role_of


class OrgAdminOnly(permissions.BasePermission):
    """The organization's ORG_ADMIN (or platform staff acting as it)."""

    message = "Only an ORG_ADMIN manages the team and reads the audit log."

    def has_permission(self, request: Any, view: Any) -> bool:
        return role_of(request.user) == Role.ORG_ADMIN or is_platform_staff(request.user)


class SignUpSerializer(serializers.Serializer):
    """A new organization and its ORG_ADMIN."""

    organization_name = serializers.CharField(max_length=255)
    name = serializers.CharField(max_length=200)
    email = serializers.EmailField(max_length=100)
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=100)
    password = serializers.CharField(max_length=128, style={"input_type": "password"})


class SignUpView(APIView):
    """POST: sign up a business (201 with its organization's code); SIGNUP_OPEN=false: 403."""

    authentication_classes: ClassVar[list[Any]] = []
    permission_classes = (AllowAny,)
    serializer_class = SignUpSerializer

    def post(self, request: Request) -> Response:
        form = SignUpSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        organization, admin = services.sign_up(services.SignUp(**form.validated_data))
        return Response({
            "organization": {"id": str(organization.pk), "code": organization.code,
                             "name": organization.name},
            "user": str(admin.pk), "email_confirmed": False,
            "detail": f"Check {admin.email} for the link that confirms it: "
                      f"{organization.name} sends nothing until then.",
        }, status=status.HTTP_201_CREATED)


class TokenSerializer(serializers.Serializer):
    """A link's token."""

    token = serializers.CharField(max_length=2000)


class ConfirmEmailView(APIView):
    """POST the token of the sign-up's e-mail: the organization may send from then on."""

    authentication_classes: ClassVar[list[Any]] = []
    permission_classes = (AllowAny,)
    serializer_class = TokenSerializer

    def post(self, request: Request) -> Response:
        form = TokenSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        organization = services.confirm_email(form.validated_data["token"])
        return Response({"organization": organization.code, "email_confirmed": True})


class MeSerializer(serializers.ModelSerializer):
    """The caller."""

    role = serializers.CharField(source="role_name", read_only=True)
    organization = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ("id", "username", "email", "first_name", "last_name", "role", "organization")

    def get_organization(self, user: User) -> dict[str, Any] | None:
        org = user.organization
        return None if org is None else {"id": str(org.pk), "code": org.code, "name": org.name,
                                         "email_confirmed": org.email_confirmed}


class MeView(OrganizationScopedMixin, APIView):
    """GET: who the caller is, with their role and organization."""

    tenant_required = False
    permission_classes = (permissions.IsAuthenticated,)
    serializer_class = MeSerializer

    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user).data)


class InvitationSerializer(serializers.ModelSerializer):
    """An invitation as the ORG_ADMIN sees it (never its link)."""

    role = serializers.ChoiceField(choices=team.TEAM_ROLES, source="role.name")
    state = serializers.CharField(read_only=True)

    class Meta:
        model = Invitation
        fields = ("id", "email", "role", "state", "expires_at", "accepted_at", "revoked_at",
                  "user", "invited_by", "created_at")
        read_only_fields = ("expires_at", "accepted_at", "revoked_at", "user", "invited_by",
                            "created_at")


class InvitationViewSet(TenantViewSet):
    """The ORG_ADMIN's invitations: list, invite (POST), resend, revoke (DELETE or POST)."""

    model = Invitation
    http_method_names: ClassVar[list[str]] = ["get", "post", "delete", "head", "options"]
    permission_classes = (OrgAdminOnly,)
    filterset_fields: ClassVar[dict[str, list[str]]] = {"email": ["exact"]}
    ordering_fields: ClassVar[list[str]] = ["created_at", "expires_at"]

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return InvitationSerializer

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        form = InvitationSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        invitation = team.invite(form.validated_data["email"],
                                 form.validated_data["role"]["name"], by=request.user)
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        team.revoke(self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=InvitationSerializer)
    @action(detail=True, methods=["post"])
    def resend(self, request: Request, **kwargs: Any) -> Response:
        """A new link by e-mail; the previous one stops working."""
        return Response(InvitationSerializer(team.resend(self.get_object())).data)

    @extend_schema(request=None, responses=InvitationSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, **kwargs: Any) -> Response:
        """End the invitation: its link stops working."""
        invitation = team.revoke(self.get_object(), by=request.user)
        return Response(InvitationSerializer(invitation).data)


class AcceptSerializer(TokenSerializer):
    """Joining by an invitation."""

    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=100)
    password = serializers.CharField(max_length=128, style={"input_type": "password"})
    name = serializers.CharField(max_length=200, required=False, default="")


class AcceptInvitationView(APIView):
    """POST token, username and password: join the organization that invited you (once)."""

    authentication_classes: ClassVar[list[Any]] = []
    permission_classes = (AllowAny,)
    serializer_class = AcceptSerializer

    def post(self, request: Request) -> Response:
        form = AcceptSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        user = team.accept(data["token"], username=data["username"], password=data["password"],
                           name=data["name"])
        return Response({"user": str(user.pk), "username": user.username},
                        status=status.HTTP_201_CREATED)


class ResetRequestSerializer(serializers.Serializer):
    """Whose password to reset."""

    organization = serializers.CharField(max_length=50, help_text="Your organization's code.")
    email = serializers.EmailField(max_length=100)


class PasswordResetView(APIView):
    """POST organization code and e-mail: a reset link, if that user exists (never said)."""

    authentication_classes: ClassVar[list[Any]] = []
    permission_classes = (AllowAny,)
    serializer_class = ResetRequestSerializer

    def post(self, request: Request) -> Response:
        form = ResetRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        services.request_password_reset(form.validated_data["organization"],
                                        form.validated_data["email"])
        return Response({"detail": "If this address belongs to a user of this organization, a "
                         "reset link is on its way."}, status=status.HTTP_202_ACCEPTED)


class ResetSerializer(TokenSerializer):
    """A new password for a reset link."""

    password = serializers.CharField(max_length=128, style={"input_type": "password"})


class PasswordResetConfirmView(APIView):
    """POST token and new password: the link then stops working, and old tokens end."""

    authentication_classes: ClassVar[list[Any]] = []
    permission_classes = (AllowAny,)
    serializer_class = ResetSerializer

    def post(self, request: Request) -> Response:
        form = ResetSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        user = services.reset_password(form.validated_data["token"],
                                       form.validated_data["password"])
        return Response({"user": str(user.pk), "username": user.username})


class TeamMemberSerializer(serializers.ModelSerializer):
    """A user as the team page shows them; only the role is changed here."""

    role = serializers.ChoiceField(choices=team.TEAM_ROLES, source="role_name")

    class Meta:
        model = User
        fields = ("id", "username", "email", "first_name", "last_name", "role", "is_active")
        read_only_fields = ("username", "email", "first_name", "last_name", "is_active")


class TeamViewSet(TenantViewSet):
    """The ORG_ADMIN's team: list, change a role (PATCH), deactivate and reactivate."""

    model = User
    http_method_names: ClassVar[list[str]] = ["get", "patch", "post", "head", "options"]
    permission_classes = (OrgAdminOnly,)
    filterset_fields: ClassVar[dict[str, list[str]]] = {"is_active": ["exact"]}
    ordering_fields: ClassVar[list[str]] = ["username"]

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return TeamMemberSerializer

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response({"detail": "Invite people with POST /api/v1/invitations/."},
                        status=status.HTTP_405_METHOD_NOT_ALLOWED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        user = self.get_object()
        form = TeamMemberSerializer(user, data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        if "role_name" in form.validated_data:
            team.change_role(user, form.validated_data["role_name"], by=request.user)
        return Response(TeamMemberSerializer(user).data)

    @extend_schema(request=None, responses=TeamMemberSerializer)
    @action(detail=True, methods=["post"])
    def deactivate(self, request: Request, **kwargs: Any) -> Response:
        """No more sign-in; their sessions and API tokens end."""
        return Response(TeamMemberSerializer(team.deactivate(self.get_object(),
                                                             by=request.user)).data)

    @extend_schema(request=None, responses=TeamMemberSerializer)
    @action(detail=True, methods=["post"])
    def reactivate(self, request: Request, **kwargs: Any) -> Response:
        """Let a deactivated user sign in again."""
        return Response(TeamMemberSerializer(team.reactivate(self.get_object(),
                                                             by=request.user)).data)


class AuditEventViewSet(ReadOnlyTenantViewSet):
    """The organization's audit log, newest first: its ORG_ADMIN's to read."""

    model = AuditEvent
    permission_classes = (OrgAdminOnly,)
    filterset_fields: ClassVar[dict[str, list[str]]] = {
        "action": ["exact"], "actor_id": ["exact"], "created_at": ["exact", "gte", "lte"]}
    ordering_fields: ClassVar[list[str]] = ["created_at"]
