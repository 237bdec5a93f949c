"""OpenAPI descriptions drf-spectacular cannot infer (imported by crm.api.urls)."""
from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerExtension,
)
from drf_spectacular.plumbing import ResolvedComponent
from pydantic.json_schema import model_json_schema

from crm.api.authentication import ApiTokenAuthentication

PREFIX = "WhatsApp"


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Describes ApiTokenAuthentication in the OpenAPI schema."""

    target_class = ApiTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Token <key>`, from POST /api/v1/auth/token/"}


class WhatsAppSchemaExtension(OpenApiSerializerExtension):
    """Pydantic models of crm.whatsapp.schemas as OpenAPI 3.0 components.

    Their sub-models are registered with a "WhatsApp" prefix (Meta's `Template` object must not
    take the name of the templates resource), and JSON Schema's null type becomes `nullable`.
    """

    target_class = "pydantic.BaseModel"
    match_subclasses = True
    priority = 1  # before drf-spectacular's own pydantic extension

    def get_name(self, auto_schema: Any, direction: str) -> str:
        return f"{PREFIX}{self.target.__name__}"

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = model_json_schema(self.target, ref_template=f"#/components/schemas/{PREFIX}"
                                   "{model}", mode="validation")
        for name, sub_schema in schema.pop("$defs", {}).items():
            auto_schema.registry.register_on_missing(ResolvedComponent(
                name=f"{PREFIX}{name}", type=ResolvedComponent.SCHEMA, object=f"{PREFIX}{name}",
                schema=openapi_30(sub_schema),
            ))
        return openapi_30(schema)


def openapi_30(schema: Any) -> Any:
    """JSON Schema from pydantic in OpenAPI 3.0's dialect: `nullable` instead of a null type."""
    if isinstance(schema, list):
        return [openapi_30(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {key: openapi_30(value) for key, value in schema.items()}
    options = schema.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [option for option in options if option != {"type": "null"}]
        del schema["anyOf"]
        if len(rest) == 1 and "$ref" in rest[0]:
            schema["allOf"] = rest
        elif len(rest) == 1:
            schema.update(rest[0])
        else:
            schema["anyOf"] = rest
        schema["nullable"] = True
    if schema.get("const") is not None:
        schema["enum"] = [schema.pop("const")]
    return schema
