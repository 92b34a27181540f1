"""What can go wrong talking to an sdd-jobs server, as exceptions a caller can act on.

- :class:`APIError`: the server answered with its error envelope (or any non-2xx answer);
  ``status``, ``code``, ``message`` and ``param`` are the server's.
- :class:`ServiceUnreachable`: no answer at all (refused, DNS, timeout); carries the URL.
- :class:`ServerNotReady`: a server that is starting (or down), waited for by ``sdd login``.
- :class:`ChecksumMismatch`: a download's bytes do not match the server's ``X-Content-SHA256``.
- :class:`WaitTimeout`: :meth:`SDDClient.wait` gave up; carries the job as last seen
  (:class:`DatasetWaitTimeout`: :meth:`SDDClient.wait_dataset`, the dataset).
- :class:`ConfigError`: no server URL or token could be found.

All of them derive from :class:`SDDClientError`, so ``except SDDClientError`` catches every one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sdd_client.models import Dataset, Job


class SDDClientError(Exception):
    """Base class of every error this package raises."""


class APIError(SDDClientError):
    """An error answer from the server: ``{"error": {"code", "message", "param"}}``."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(f"[{code}] {message}" + (f" ({param})" if param else ""))
        self.status = status
        self.code = code
        self.message = message
        self.param = param

    @property
    def is_client_error(self) -> bool:
        """True for 4xx: the request must change; False for 5xx: the server failed."""
        return 400 <= self.status < 500

    @classmethod
    def from_body(cls, status: int, body: Any, text: str = "") -> APIError:
        """Build from a decoded JSON body; answers without the envelope (a proxy's page) still make one."""
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and isinstance(error.get("code"), str):
            return cls(status, error["code"], str(error.get("message") or ""), error.get("param"))
        snippet = " ".join(text.split())[:200] or "no error details in the answer"
        return cls(status, f"http_{status}", snippet)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.status, self.code, self.message, self.param))


class ServiceUnreachable(SDDClientError, ConnectionError):
    """The server did not answer: wrong URL, not running, network down, or too slow."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach the sdd-jobs server at {url}: {reason}")
        self.url = url
        self.reason = reason


class ServerNotReady(SDDClientError):
    """The server refused connections or said it is not ready: it may be starting (``sdd up``
    migrates its database before its API listens)."""

    def __init__(self, url: str, reason: str, waited_s: float = 0) -> None:
        if waited_s:
            advice = f"still not ready after {waited_s:g} s ({reason}); the server's log says why"
        elif reason.startswith("nothing answers"):
            advice = (
                f"not up ({reason}): if it is starting, retry in a few seconds or pass --wait; "
                "else check the URL, or start a server here with `sdd up --detach`"
            )
        else:
            advice = f"starting ({reason}); retry in a few seconds, or pass --wait to wait for it"
        super().__init__(f"the server at {url} is {advice}")
        self.url = url
        self.reason = reason
        self.waited_s = waited_s


class ChecksumMismatch(SDDClientError):
    """Downloaded bytes differ from the server's SHA-256; nothing was kept."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        super().__init__(f"{what}: SHA-256 {actual} does not match the server's {expected}; nothing was saved")
        self.expected = expected
        self.actual = actual


class WaitTimeout(SDDClientError, TimeoutError):
    """A job did not reach a terminal status in time."""

    def __init__(self, job: Job, timeout: float) -> None:
        super().__init__(f"job {job.id} still {job.status} after {timeout:g} s")
        self.job = job
        self.timeout = timeout


class DatasetWaitTimeout(WaitTimeout):
    """A dataset was still ingesting when :meth:`SDDClient.wait_dataset` gave up."""

    def __init__(self, dataset: Dataset, timeout: float) -> None:
        SDDClientError.__init__(self, f"dataset {dataset.id} still {dataset.status} after {timeout:g} s")
        self.dataset = dataset
        self.timeout = timeout


class ConfigError(SDDClientError):
    """No URL or token: pass them, set SDD_URL/SDD_TOKEN, or run ``sdd login``."""
