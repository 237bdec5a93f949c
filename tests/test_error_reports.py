"""Error pages never show a WhatsApp access token or a password."""
from __future__ import annotations

import sys
import uuid

from django.test import RequestFactory, override_settings
from django.views.debug import ExceptionReporter


def _failing_write(validated_data: dict[str, object], password: str) -> None:
    raise RuntimeError("the database went away")


@override_settings(DEBUG=True)
def test_the_debug_error_page_masks_secrets_in_local_variables() -> None:
    request = RequestFactory().post("/api/v1/whatsapp-numbers/")
    access_token, password = f"EAAG{uuid.uuid4().hex}", uuid.uuid4().hex  # not in the source
    try:
        _failing_write({"phone_number_id": "1055", "access_token": access_token}, password)
    except RuntimeError:
        html = ExceptionReporter(request, *sys.exc_info()).get_traceback_html()
    assert access_token not in html and password not in html
    assert "1055" in html  # the rest of the variables are still shown
