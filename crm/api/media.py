"""Media: an inbound message's file (`messages/<id>/media/`), and uploads to Meta (`media/`)."""
from __future__ import annotations

from typing import Any, ClassVar

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api.templates import REFUSED, refused
from crm.api.views import OrganizationScopedMixin, TenantViewSet
from crm.models import Message
from crm.whatsapp.media import message_media, upload_media
from crm.whatsapp.media_types import essence
from crm.whatsapp.refusals import Refused

UPLOADED = inline_serializer("MediaUploaded", {
    "id": serializers.CharField(help_text="Meta's media id: send with {\"<type>\": {\"id\": ...}}"),
    "type": serializers.CharField(), "mime_type": serializers.CharField(),
    "file_size": serializers.IntegerField(), "from_number": serializers.UUIDField(),
    "phone_number_id": serializers.CharField(),
})
# On every media answer: a file that is a document after all runs no script, in no origin.
MEDIA_HEADERS = {"Content-Security-Policy": "sandbox; default-src 'none'",
                 "X-Content-Type-Options": "nosniff"}


class MessageViewSet(TenantViewSet):
    """Messages, plus `media/`: the file of an image, video, audio, document or sticker."""

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY,
                              404: REFUSED, 409: REFUSED, 502: REFUSED},
                   summary="The message's media file (fetched from Meta once, then kept)")
    @action(detail=True, methods=["get"])
    def media(self, request: Request, **kwargs: Any) -> Any:
        """Stream the message's file; the first request fetches it from Meta."""
        message: Message = self.get_object()
        try:
            stored = message_media(message)
        except Refused as refusal:
            answer = refused(refusal)
            for name, value in MEDIA_HEADERS.items():
                answer[name] = value
            return answer
        return FileResponse(stored.open(), content_type=stored.mime_type, headers=MEDIA_HEADERS,
                            as_attachment=not stored.inline, filename=stored.filename)


class Upload(serializers.Serializer):
    """A file to upload to Meta, and the number that will send it."""

    file = serializers.FileField()
    mime_type = serializers.CharField(required=False, max_length=255,
                                      help_text="type/subtype; it must agree with the file's "
                                      "bytes (default: the bytes' type)")
    from_number = serializers.CharField(required=False, max_length=100,
                                        help_text="id or phone_number_id (default: the oldest "
                                        "active number)")

    def validate_mime_type(self, value: str) -> str:
        found = essence(value)
        if found is None:
            raise serializers.ValidationError("Give a MIME type as type/subtype, such as "
                                              "image/jpeg (no commas, spaces or line breaks).")
        return found


class MediaUploadView(OrganizationScopedMixin, APIView):
    """POST a file (multipart): checked against WhatsApp's limits, uploaded to Meta."""

    model: ClassVar[type[Message]] = Message  # who may write messages may upload their media
    parser_classes = (MultiPartParser,)

    @extend_schema(request={"multipart/form-data": Upload},
                   responses={201: UPLOADED, 400: OpenApiResponse(REFUSED, description="type "
                              "or size not accepted by WhatsApp"), 404: REFUSED, 502: REFUSED})
    def post(self, request: Request) -> Response:
        wanted = Upload(data=request.data)
        wanted.is_valid(raise_exception=True)
        file = wanted.validated_data["file"]
        # The file part's Content-Type is a label too; a malformed one says nothing: bytes decide.
        declared = wanted.validated_data.get("mime_type") or essence(file.content_type)
        try:
            uploaded = upload_media(file, declared, wanted.validated_data.get("from_number"))
        except Refused as refusal:
            return refused(refusal)
        return Response(uploaded.as_json(), status=status.HTTP_201_CREATED)
