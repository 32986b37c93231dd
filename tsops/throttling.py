"""The API's per-member rate limit: a sliding-window counter in Redis.

DRF's ``UserRateThrottle`` keeps a log of every request's time per member and reads and
rewrites the whole log on every request: two round trips and, at the production rate
(6000/min), a pickled list of up to 6000 floats each way. This throttle counts requests in
fixed windows of the rate's period and estimates the sliding window from the current and
previous counts (the previous weighted by how much of it the sliding window still covers):
one round trip of three small commands (``INCR``, ``EXPIRE``, ``GET``), whatever the rate. A
refused request is taken back off the count, so retrying while refused does not prolong the
refusal. With Redis unavailable requests pass (tsops.cache fails open).
"""

from __future__ import annotations

import math

from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle


class SlidingWindowUserThrottle(UserRateThrottle):
    """``UserRateThrottle`` (scope ``user``, per member, anonymous requests left to the
    anonymous throttle) with a sliding-window counter instead of a request log."""

    def get_rate(self) -> str | None:
        # Read when used, not at import, so that the configured rate is always the current one.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window = math.floor(self.now / self.duration)
        self.window_key = f"{self.key}:{window}"
        counts = self.cache.window_counts(
            self.window_key, f"{self.key}:{window - 1}", 2 * self.duration
        )
        if counts is None:
            return True
        self.current, self.previous = counts
        self.elapsed = self.now - window * self.duration
        if self.estimate(self.current, self.elapsed) <= self.num_requests:
            return True
        self.cache.uncount(self.window_key)
        self.current -= 1
        return False

    def estimate(self, current: int, elapsed: float) -> float:
        """Requests in the sliding window ending ``elapsed`` seconds into the current window."""
        return self.previous * (1 - elapsed / self.duration) + current

    def wait(self) -> float | None:
        """Seconds until one more request fits (the Retry-After of a refusal)."""
        room = self.num_requests - self.current - 1
        if room >= 0 and self.previous:
            # Within this window, once enough of the previous one has slid out.
            needed = (1 - room / self.previous) * self.duration
            return max(0.0, needed - self.elapsed)
        # Into the next window, once enough of this one has slid out.
        rest = self.duration - self.elapsed
        if not self.current:
            return rest
        return rest + max(0.0, (1 - (self.num_requests - 1) / self.current) * self.duration)
