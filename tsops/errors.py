"""Domain errors shared by every app; the API answers them with one status each."""

from django.http import Http404


class ConflictError(Exception):
    """The request conflicts with the object's current state (HTTP 409)."""


class HiddenObject(Http404):
    """An object that exists but that ``actor`` may not see: answered exactly like a missing
    one (404, same message), and recorded as a denial in the access log once the request's
    transaction has unwound (``tsops.services.access_denied_record``, called by the 404
    handlers). A truly missing id raises a plain Http404 and is never recorded, so nobody can
    fill the log by guessing ids."""

    def __init__(self, message: str, *, actor, obj):
        super().__init__(message)
        self.actor = actor
        self.object_type = obj._meta.label_lower
        self.object_id = str(obj.pk)
