"""OpenAPI description of the API-key authentication."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "tsops.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from `manage.py create_api_key`, limited to its scopes.",
        }


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
