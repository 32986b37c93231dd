"""Domain errors shared by every app; the API answers them with one status each."""


class ConflictError(Exception):
    """The request conflicts with the object's current state (HTTP 409)."""
