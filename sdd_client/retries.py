"""When the client tries a request again: transient failures, for a while, never twice a new job.

Retried: reads (GET) and POSTs that carry an ``Idempotency-Key`` (the server answers a repeat with
the job or sweep the first one made), when the server answered 429, 502, 503 or 504, or could not
be reached after it had answered this client before (so a wrong URL fails at once, while a
restart of the API under a watching client is waited out). The pause honours ``Retry-After`` (seconds or an HTTP date); otherwise it doubles from
``first_pause`` up to ``longest_pause``, with jitter. After ``give_up_after`` seconds the last
error is raised. Every other request is sent once: a POST without a key could create a second job.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often to try again (``RetryPolicy(give_up_after=0)`` sends every request once)."""

    give_up_after: float = 120.0
    first_pause: float = 0.5
    longest_pause: float = 15.0

    def may_retry(self, method: str, headers: dict[str, str]) -> bool:
        return method.upper() in IDEMPOTENT_METHODS or "Idempotency-Key" in headers

    def pause(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait before try number ``attempt + 1`` (``attempt`` counts from 1)."""
        hinted = parse_retry_after(retry_after)
        if hinted is not None:
            return min(hinted, self.longest_pause * 4)
        backoff = min(self.first_pause * 2 ** (attempt - 1), self.longest_pause)
        return backoff * (0.5 + random.random() / 2)  # jitter: many waiting clients do not return in step


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now: ``"5"`` or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
