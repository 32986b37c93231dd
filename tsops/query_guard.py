"""The REST API takes each query parameter once, and never with a NUL character.

Every query parameter of the API is a single value (the OpenAPI schema has no array
parameters). Django's ``QueryDict.get`` quietly keeps the last of repeated values, so
``?status=open&status=x`` would be read as ``x`` while a proxy or log reads ``open`` (HTTP
parameter pollution), and the request is not one the schema allows. The API answers it 400
instead. A NUL character in a parameter would reach PostgreSQL, which refuses it in text (a
500 before this check). Both found by the fuzzer, tests/security/test_api_fuzz.py.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

API_PREFIX = "/api/v1/"


class SingleQueryValueMiddleware:
    """Refuse an API request that repeats a query parameter or puts a NUL character in one,
    with a 400 in the API's error shape."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            fields = {}
            for name, values in request.GET.lists():
                if len(values) > 1:
                    fields[name] = ["Give this parameter once."]
                elif any("\x00" in value for value in values):
                    fields[name] = ["Null characters are not allowed."]
            if fields:
                return JsonResponse(
                    {
                        "error": {
                            "status": 400,
                            "code": "invalid",
                            "message": "Invalid input: " + ", ".join(sorted(fields)),
                            "fields": fields,
                        }
                    },
                    status=400,
                )
        return self.get_response(request)
