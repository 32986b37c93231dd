"""Domain errors shared by every app; the API answers them with one status each."""

from django.core.exceptions import ValidationError
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


class UnknownReferences(ValidationError):
    """Input naming objects (accounts, clusters, cases) that do not exist or the actor may not
    see, each under its field. Forms show it like any field error; the API answers 404 with
    the fields named: the request is well-formed, it names nothing the caller can reach (and
    a hidden object answers exactly like a missing one)."""
