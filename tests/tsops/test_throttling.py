"""The per-member API rate limit (tsops.throttling): a sliding-window counter in Redis, one
round trip per request, refusals not counted, other members unaffected."""

from __future__ import annotations

import pytest

from tsops.throttling import SlidingWindowUserThrottle

pytestmark = pytest.mark.django_db

RATE = 4


@pytest.fixture
def strict_user_rate(settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": f"{RATE}/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


@pytest.fixture
def clock(monkeypatch):
    """The throttle's clock, at the start of a minute unless moved."""
    now = {"t": 1_800_000_000.0 - 1_800_000_000.0 % 60 + 60 * 7919}
    monkeypatch.setattr(SlidingWindowUserThrottle, "timer", lambda self: now["t"])
    return now


def test_a_member_over_the_rate_is_refused_until_the_window_slides(
    analyst, senior, api_client_for, strict_user_rate, clock
):
    client = api_client_for(analyst, ["cases:read"])
    for _ in range(RATE):
        assert client.get("/api/v1/me").status_code == 200
    refused = client.get("/api/v1/me")
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    # Another member has a window of their own.
    assert api_client_for(senior, ["cases:read"]).get("/api/v1/me").status_code == 200
    # Refused requests are not counted: once the previous minute has slid half out, half of
    # its four requests count, so two more fit — however often the member was refused.
    for _ in range(5):
        assert client.get("/api/v1/me").status_code == 429
    clock["t"] += 90
    assert [client.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 429]


def test_the_counter_is_one_small_number_per_window(analyst, api_client_for, clock):
    """No log of request times: a count per member and window, expiring after two windows."""
    from django.core.cache import cache

    client = api_client_for(analyst, ["cases:read"])
    for _ in range(3):
        assert client.get("/api/v1/me").status_code == 200
    throttle = SlidingWindowUserThrottle()
    window = int(clock["t"] // throttle.duration)
    key = cache.make_and_validate_key(f"throttle_user_{analyst.pk}:{window}")
    redis = cache._cache.get_client()
    assert int(redis.get(key)) == 3
    assert 0 < redis.ttl(key) <= 2 * throttle.duration


def test_retry_after_says_when_one_more_request_fits(analyst, api_client_for, clock, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "2/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    client = api_client_for(analyst, ["cases:read"])
    clock["t"] += 30
    assert [client.get("/api/v1/me").status_code for _ in range(2)] == [200, 200]
    refused = client.get("/api/v1/me")
    assert refused.status_code == 429
    wait = int(refused["Retry-After"])
    # Both requests fell in this window: one fits again when half of it has slid out, 30 s
    # into the next window, 60 s from now.
    assert 55 <= wait <= 61
    clock["t"] += wait
    assert client.get("/api/v1/me").status_code == 200
