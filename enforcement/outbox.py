"""Delivery of outbox events to webhook endpoints (fan-out, signing, retries)."""


def outbox_dispatch() -> int:
    """Deliver due events; returns how many deliveries were attempted."""
    return 0
