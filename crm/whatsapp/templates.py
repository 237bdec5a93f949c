"""Message templates per organization: sync from Meta, create and delete on Meta, parameters."""
from __future__ import annotations

from crm.whatsapp.template_parameters import TemplateParameterError, validate_parameters

__all__ = ["TemplateParameterError", "validate_parameters"]
