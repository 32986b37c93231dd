"""Hashing and masking of identifiers: raw values are never stored."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

from django.conf import settings


def normalise(kind: str, value: str) -> str:
    value = value.strip()
    if kind in ("email", "device"):
        return value.lower()
    if kind == "phone":
        return "".join(ch for ch in value if ch.isdigit() or ch == "+")
    if kind == "payment":
        return "".join(ch for ch in value if ch.isalnum()).lower()
    if kind == "ip":
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            return value.lower()
    return value


def identifier_hash(kind: str, value: str) -> str:
    """HMAC-SHA256 of the normalised value under IDENTIFIER_HASH_KEY (kind is part of the input)."""
    message = f"{kind}:{normalise(kind, value)}".encode()
    return hmac.new(settings.IDENTIFIER_HASH_KEY.encode(), message, hashlib.sha256).hexdigest()


def hash_for_text(value: str) -> str:
    """A keyed hash of free text (reporter ids): the same person always hashes alike."""
    return hmac.new(
        settings.IDENTIFIER_HASH_KEY.encode(), f"text:{value}".encode(), hashlib.sha256
    ).hexdigest()


def _mask_word(word: str) -> str:
    return (word[:1] + "***") if word else "***"


def identifier_mask(kind: str, value: str) -> str:
    """A display form that helps recognise a value without revealing it (j***@e***.com)."""
    value = normalise(kind, value)
    if kind == "email" and "@" in value:
        local, _, domain = value.partition("@")
        host, dot, tld = domain.rpartition(".")
        return f"{_mask_word(local)}@{_mask_word(host or tld)}{dot}{tld if host else ''}"
    if kind == "ip":
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return _mask_word(value)
        if address.version == 4:
            return ".".join(value.split(".")[:2]) + ".*.*"
        return ":".join(address.exploded.split(":")[:2]) + ":****"
    if kind == "phone":
        digits = value
        return (
            (digits[:3] + "*" * max(len(digits) - 5, 3) + digits[-2:]) if len(digits) > 5 else "***"
        )
    if kind == "payment":
        return f"**** {value[-4:]}" if len(value) >= 4 else "****"
    # device and anything else: a short prefix only
    return f"{value[:4]}…" if len(value) > 4 else "****"
