"""JSON request bodies hold exactly the types the OpenAPI schema promises.

DRF's fields are lenient on purpose (they also parse HTML forms): a CharField turns ``0`` into
``"0"``, a BooleanField takes ``0``, ``"yes"`` or ``"off"``, an IntegerField takes ``"12"`` and
``12.0``. For a JSON API that means accepting input the schema forbids (the fuzzer,
tests/security/test_api_fuzz.py, found each of these). Serializers that read JSON bodies mix in
:class:`StrictJsonInput`, which refuses a value of the wrong JSON type before DRF coerces it.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.http import QueryDict
from rest_framework import serializers


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _string_choices(field: serializers.ChoiceField) -> bool:
    return all(isinstance(key, str) for key in field.choices)


def json_type_error(field: serializers.Field, value) -> str | None:
    """Why ``value`` is not of the JSON type ``field`` declares, or None when it is."""
    if value is None:
        # null is the field's own business (allow_null).
        return None
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else "Must be true or false."
    if isinstance(field, serializers.IntegerField):
        return None if _is_int(value) else "Must be an integer."
    if isinstance(field, serializers.FloatField | serializers.DecimalField):
        return None if _is_number(value) else "Must be a number."
    if isinstance(field, serializers.ChoiceField) and not _string_choices(field):
        return None
    if isinstance(
        field,
        serializers.CharField
        | serializers.ChoiceField
        | serializers.DateField
        | serializers.DateTimeField
        | serializers.SlugRelatedField,
    ):
        return None if isinstance(value, str) else "Must be a string."
    if isinstance(field, serializers.ListField) and isinstance(value, list):
        for index, item in enumerate(value):
            problem = json_type_error(field.child, item)
            if problem:
                return f"Item {index}: {problem}"
    if isinstance(field, serializers.DictField) and isinstance(value, dict):
        for key, item in value.items():
            problem = json_type_error(field.child, item)
            if problem:
                return f"{key}: {problem}"
    return None


class StrictJsonInput:
    """Serializer mixin: in a JSON body, a field of the wrong JSON type is invalid (400)."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping) and not isinstance(data, QueryDict):
            errors = {}
            for name, field in self.fields.items():
                if field.read_only or name not in data:
                    continue
                problem = json_type_error(field, data[name])
                if problem:
                    errors[name] = [problem]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
