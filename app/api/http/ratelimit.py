"""Per-token rate limit (MLAUDIT_RATE_LIMIT): a token bucket per credential, per process.

Checked before routing and before the token is even looked up, so a flood costs no database
work. The key is a hash of the credential's secret (Bearer, or the secret of Basic name:secret),
so the same token shares one bucket on /api/v1 and on the MLflow routes. Requests without
credentials are not limited. Each gunicorn worker keeps its own buckets: the effective limit
per token is the configured rate times the number of workers.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable

from flask import Flask, Response, request

from app.api.http.auth import bearer_or_basic
from app.api.http.errors import error_response

MAX_KEYS = 10_000  # buckets kept; beyond, idle (refilled) ones and then the oldest are dropped
Clock = Callable[[], float]


class TokenBuckets:
    """`count` requests per `period` seconds per key, in bursts of up to `count`."""

    def __init__(self, count: int, period: float, clock: Clock = time.monotonic,
                 max_keys: int = MAX_KEYS) -> None:
        self.count, self.period = count, period
        self._rate, self._capacity = count / period, float(count)
        self._clock, self._max_keys = clock, max_keys
        self._buckets: dict[bytes, list[float]] = {}  # key -> [tokens left, last update]
        self._lock = threading.Lock()

    def take(self, key: bytes) -> float:
        """Spend one token: 0.0 if allowed, else the seconds until one is available."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self._max_keys:
                    self._prune(now)
                self._buckets[key] = [self._capacity - 1, now]
                return 0.0
            tokens = min(self._capacity, bucket[0] + (now - bucket[1]) * self._rate)
            bucket[1] = now
            if tokens >= 1:
                bucket[0] = tokens - 1
                return 0.0
            bucket[0] = tokens
            return (1 - tokens) / self._rate

    def _prune(self, now: float) -> None:
        full = [k for k, (tokens, at) in self._buckets.items()
                if tokens + (now - at) * self._rate >= self._capacity]
        for key in full:  # a refilled bucket is the same as no bucket
            del self._buckets[key]
        if len(self._buckets) >= self._max_keys:  # many busy keys: forget the older half
            by_age = sorted(self._buckets, key=lambda k: self._buckets[k][1])
            for key in by_age[: len(by_age) // 2 + 1]:
                del self._buckets[key]


def credential_key(header: str) -> bytes:
    """A hash of the secret an Authorization header carries (never kept in clear), read as
    the authentication reads it; a header it cannot read is keyed by its raw value
    (authentication will refuse it)."""
    found = bearer_or_basic(header)
    secret = header.partition(" ")[2].strip() if found is None else found.secret
    return hashlib.blake2b(secret.encode("utf-8", "replace"), digest_size=16).digest()


def too_many(buckets: TokenBuckets, wait: float) -> Response:
    """429 in the route family's error format, with a whole-second Retry-After."""
    retry = max(1, math.ceil(wait))
    unit = {1.0: "second", 60.0: "minute", 3600.0: "hour"}.get(buckets.period,
                                                              f"{buckets.period:g} s")
    message = (f"this token made more than {buckets.count} requests per {unit}; "
               f"retry after {retry} s")
    response = error_response(429, "Too Many Requests", message)
    response.headers["Retry-After"] = str(retry)
    return response


def install(app: Flask, rule: tuple[int, float] | None) -> TokenBuckets | None:
    """Limit requests per token; with no rule nothing is registered (no per-request cost)."""
    if rule is None:
        return None
    buckets = TokenBuckets(*rule)

    def check() -> Response | None:
        header = request.headers.get("Authorization")
        if not header:
            return None
        wait = buckets.take(credential_key(header))
        return None if wait <= 0 else too_many(buckets, wait)

    app.before_request(check)
    return buckets
