"""Error pages and error e-mails never show a secret, not even with DEBUG on."""
from __future__ import annotations

from typing import Any

from django.views.debug import SafeExceptionReporterFilter


class SecretsExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter, plus local variables and dict keys named like secrets, always."""

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> list[tuple[str, Any]]:
        # An access token travels in validated_data, payloads and arguments: cleanse by name
        # (access_token, password, key_hash, ...) at every depth of a dict.
        return [
            (name, self.cleanse_setting(name, value))
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]
