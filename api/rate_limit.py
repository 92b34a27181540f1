"""Rate limiting per API token: 429 ``rate_limited`` with ``Retry-After`` past the allowed rate.

**Algorithm.** GCRA (the generic cell rate algorithm), which behaves exactly like a token bucket
of ``rate_limit_burst`` tokens refilled at ``rate_limit_per_minute / 60`` per second, but keeps a
single number per key: the theoretical arrival time (TAT) of the next request. A request is
allowed when, after adding one emission interval ``T = 60 / per_minute`` to ``max(TAT, now)``, the
TAT is at most ``burst * T`` ahead of now; otherwise it waits the excess (``Retry-After``, whole
seconds rounded up).

**Keys.** A request whose bearer token authenticated before (in this process) is counted against
that token, keyed by the token's SHA-256, never the token itself. Everything else (no token, an
unknown or wrong token, the dashboard's cookie requests) is counted against the client's IP
address, so a flood of 401s is bounded like any other traffic. A valid token's first request in a
process therefore counts against its IP; ``get_current_tenant`` then marks the request
(``mark_authenticated``) and later requests count against the token. Behind a reverse proxy,
set ``SDD_FORWARDED_ALLOW_IPS=<proxy>`` (``api.server_options``) so the IP is the client's; no
other sender's ``X-Forwarded-For`` is believed.
``/healthz`` and ``/readyz`` are never limited (orchestrators probe them often).

**Scope.** With ``SDD_BROKER_URL=redis://…`` the TATs live in that Redis (one atomic Lua script
per request, using Redis' clock), so every API process shares each bucket. Otherwise, and for a
few seconds after a Redis error (logged), each API process keeps its own buckets: N processes
then allow up to N times the configured rate.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
import weakref
from collections import OrderedDict
from typing import Any

import redis
import redis.asyncio as aioredis
from fastapi import Request
from kombu.utils.url import maybe_sanitize_url
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response
from service.settings import Settings

logger = logging.getLogger(__name__)

EXEMPT_PATHS = frozenset({"/healthz", "/readyz"})
STATE_KEY = "rate_limit_key"  # set in scope["state"] by mark_authenticated
KNOWN_TOKENS_MAX = 10_000  # authenticated token hashes remembered per process (LRU)
LOCAL_KEYS_MAX = 100_000  # buckets kept per process before full (idle) ones are dropped
REDIS_TIMEOUT_S = 0.5
REDIS_RETRY_AFTER_ERROR_S = 5.0
REDIS_KEY_PREFIX = "sdd:ratelimit:"

# KEYS[1]: the bucket; ARGV[1]: emission interval T, ARGV[2]: burst tolerance burst*T (both µs).
# Returns 0 when allowed (and stores the new TAT), else the µs to wait. Uses Redis' clock.
_GCRA_LUA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - now - tolerance
if wait > 0 then return math.ceil(wait) end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return 0
"""


def token_key(token: str) -> str:
    return "tok:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def mark_authenticated(request: Request, token: str) -> None:
    """Record that this request's bearer token is valid: its next requests count against the token."""
    request.state.rate_limit_key = token_key(token)


class LocalLimiter:
    """GCRA buckets in this process's memory (see the module docstring)."""

    def __init__(self, per_minute: int, burst: int) -> None:
        self.interval = 60.0 / per_minute
        self.tolerance = burst * self.interval
        self._tat: dict[str, float] = {}

    async def check(self, key: str) -> float:
        return self.wait(key)

    def wait(self, key: str, now: float | None = None) -> float:
        """0.0 and the request is counted, or the seconds to wait before one would be allowed."""
        now = time.monotonic() if now is None else now
        new_tat = max(self._tat.get(key, now), now) + self.interval
        wait = new_tat - now - self.tolerance
        if wait > 0:
            return wait
        if len(self._tat) >= LOCAL_KEYS_MAX and key not in self._tat:
            self._prune(now)
        self._tat[key] = new_tat
        return 0.0

    def _prune(self, now: float) -> None:
        """Forget buckets that have refilled completely (they would start full anyway)."""
        self._tat = {key: tat for key, tat in self._tat.items() if tat > now}


class RedisLimiter:
    """GCRA buckets in Redis, shared by every API process; falls back to ``LocalLimiter`` on errors."""

    def __init__(self, url: str, per_minute: int, burst: int) -> None:
        self.url = url
        self.interval_us = round(60e6 / per_minute)
        self.tolerance_us = burst * self.interval_us
        self.fallback = LocalLimiter(per_minute, burst)
        self._scripts: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
        self._down_until = 0.0

    def _script(self) -> Any:
        """The GCRA script on a client of the running event loop (a client is bound to its loop)."""
        loop = asyncio.get_running_loop()
        script = self._scripts.get(loop)
        if script is None:
            client = aioredis.Redis.from_url(
                self.url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
            )
            script = self._scripts[loop] = client.register_script(_GCRA_LUA)
        return script

    async def check(self, key: str) -> float:
        """0.0 and the request is counted, or the seconds to wait (see ``LocalLimiter.wait``)."""
        now = time.monotonic()
        if now < self._down_until:
            return self.fallback.wait(key, now)
        try:
            script = self._script()
            wait_us = await script(keys=[REDIS_KEY_PREFIX + key], args=[self.interval_us, self.tolerance_us])
        except (redis.RedisError, OSError) as exc:
            self._down_until = now + REDIS_RETRY_AFTER_ERROR_S
            logger.warning(
                "rate limits: Redis at %s failed (%s: %s); counting in this process for %.0f s",
                maybe_sanitize_url(self.url),
                type(exc).__name__,
                exc,
                REDIS_RETRY_AFTER_ERROR_S,
            )
            return self.fallback.wait(key, now)
        return int(wait_us) / 1e6


class RateLimitMiddleware:
    """Pure ASGI middleware answering 429 before the request reaches the routes (and the database)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.per_minute = settings.rate_limit_per_minute
        self.burst = settings.rate_limit_burst
        broker = settings.broker_url
        self.limiter: LocalLimiter | RedisLimiter = (
            RedisLimiter(broker, self.per_minute, self.burst)
            if broker.startswith(("redis://", "rediss://"))
            else LocalLimiter(self.per_minute, self.burst)
        )
        self._known: OrderedDict[str, None] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        wait = await self.limiter.check(self._key(scope))
        if wait > 0:
            await self._refuse(wait)(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        try:
            await self.app(scope, receive, send)
        finally:
            self._remember(state.get(STATE_KEY))

    def _key(self, scope: Scope) -> str:
        token = _bearer_token(scope)
        if token:
            key = token_key(token)
            if key in self._known:
                self._known.move_to_end(key)
                return key
        client = scope.get("client")
        return "ip:" + (client[0] if client else "unknown")

    def _remember(self, key: str | None) -> None:
        if key is None or key in self._known:
            return
        self._known[key] = None
        if len(self._known) > KNOWN_TOKENS_MAX:
            self._known.popitem(last=False)

    def _refuse(self, wait: float) -> Any:
        seconds = max(1, math.ceil(wait))
        return error_response(
            429,
            "rate_limited",
            f"too many requests: this service allows {self.per_minute} requests per minute per API "
            f"token (bursts of {self.burst}); retry after {seconds} s",
            headers={"Retry-After": str(seconds)},
        )


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None
