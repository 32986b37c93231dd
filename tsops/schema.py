"""The OpenAPI document's shared pieces: the API-key authentication, the error shape and the
constraints every text field shares.

The contract: an answer 400 means the request breaks the schema. Every rule a validator applies
to a single value is in the schema too, derived from the validator where it can be (a text
field that refuses NUL characters says so with ``pattern``; an enum of stored codes is read when
the schema is generated, as the validator reads them). Rules about stored state are answered
404 (a named object that does not exist or is hidden) or 409 (the object's state forbids it).
"""

from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerFieldExtension,
)


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "tsops.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from `manage.py create_api_key`, limited to its scopes.",
        }


# Text without NUL characters (PostgreSQL text cannot hold them, so every text input refuses
# them), and the same with at least one character that is not whitespace (what a required text
# field takes once DRF has trimmed it).
NO_NUL_PATTERN = "^[^\\x00]*$"
NO_NUL_NONEMPTY_PATTERN = "^[^\\x00]+$"
NOT_BLANK_PATTERN = "^[^\\x00]*[^\\s\\x00][^\\x00]*$"


def text_pattern(*, blank: bool) -> str:
    """The ``pattern`` of a text value that refuses NUL and, unless ``blank``, whitespace only."""
    return NO_NUL_PATTERN if blank else NOT_BLANK_PATTERN


class TextFieldScheme(OpenApiSerializerFieldExtension):
    """Every CharField of a request states what its validators refuse: NUL characters (DRF's
    ``ProhibitNullCharactersValidator``) and, for a required text that is trimmed, a value of
    whitespace only."""

    target_class = "rest_framework.fields.CharField"
    match_subclasses = True
    # Below the default: an extension of a particular CharField subclass (an enum of stored
    # codes, such as the specialist teams or the queues) is the one that maps it.
    priority = -1

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        schema = auto_schema._map_serializer_field(field, direction, bypass_extensions=True)
        if direction != "request" or schema.get("type") != "string":
            return schema
        if "pattern" in schema or "enum" in schema or "format" in schema:
            return schema
        if not any(isinstance(v, ProhibitNullCharactersValidator) for v in field.validators):
            return schema
        if field.allow_blank:
            # drf-spectacular offers the blank string as the other branch of a ``oneOf``; this
            # branch must not match it too.
            schema["pattern"] = NO_NUL_NONEMPTY_PATTERN
        else:
            schema["pattern"] = text_pattern(blank=not getattr(field, "trim_whitespace", False))
        return schema


# Every API error has one shape (tsops.api.exception_handler); the schema says so for each
# status an operation can answer, so that clients (and the fuzzer in
# tests/security/test_api_fuzz.py) can rely on it.
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "code", "message"],
            "properties": {
                "status": {"type": "integer"},
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "Invalid input: the messages for each field.",
                },
                "retry_after_seconds": {"type": "integer"},
            },
            "additionalProperties": True,
        }
    },
}
_ERROR_DESCRIPTIONS = {
    400: "Invalid input (see ``error.fields``).",
    401: "No valid API key or session.",
    403: "The caller's role, team or key scope does not allow this.",
    404: "No such object, or one the caller may not see.",
    409: "The object changed meanwhile or is not in a state that allows this.",
    413: "The request is too large.",
    415: "The request body is not JSON.",
    429: "Too many requests; retry after ``error.retry_after_seconds``.",
}


def _error_statuses(method: str, operation: dict) -> list[int]:
    statuses = [401, 403, 429]
    parameters = operation.get("parameters", [])
    if operation.get("requestBody") or any(p.get("in") == "query" for p in parameters):
        statuses.append(400)
    if any(p.get("in") == "path" for p in parameters):
        statuses.append(404)
    if method in ("post", "put", "patch", "delete"):
        statuses.append(409)
    if operation.get("requestBody"):
        statuses.append(415)
    return statuses


def document_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: add the JSON error answers each operation can give
    (authentication, permission and throttling everywhere; invalid input where there is input;
    not found where a path names an object; conflicts on writes) unless a view describes them."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            declared = {int(code) for code in responses if str(code).isdigit()}
            statuses = set(_error_statuses(method, operation)) | {
                code for code in declared if code >= 400
            }
            for status in sorted(statuses):
                response = responses.setdefault(
                    str(status), {"description": _ERROR_DESCRIPTIONS.get(status, "")}
                )
                if not response.get("description"):
                    response["description"] = _ERROR_DESCRIPTIONS.get(status, "")
                response.setdefault("content", content)
    return result


def document_blank_query_parameters(result, generator, request, public):
    """drf-spectacular postprocessing hook: an optional query parameter sent blank
    (``?status=``) is the same as one left out, as HTML forms send them; say so with
    ``allowEmptyValue`` so that clients and the fuzzer know a blank value is accepted."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query" and not parameter.get("required"):
                    parameter.setdefault("allowEmptyValue", True)
    return result


def document_text_query_parameters(result, generator, request, public):
    """drf-spectacular postprocessing hook: every text query parameter refuses NUL characters
    (tsops.query_guard answers them 400 for the whole API), so each says so with ``pattern``."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if parameter.get("in") != "query" or schema.get("type") != "string":
                    continue
                if not {"enum", "format", "pattern"} & set(schema):
                    schema["pattern"] = NO_NUL_PATTERN
    return result
