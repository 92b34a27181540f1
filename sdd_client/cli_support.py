"""Plumbing shared by the ``sdd`` client commands: connection options, errors, output.

Exit codes: 0 success; 1 a job failed or was cancelled; 2 the request was refused (4xx, bad
input, missing configuration, an existing file); 3 the server failed (5xx), could not be reached,
or sent bytes that do not match their checksum. Errors print ``error [code] message (param)`` on
stderr, never a traceback.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import click
from pydantic import BaseModel
from rich.console import Console

from sdd_client.client import SDDClient
from sdd_client.config import TOKEN_ENV, ClientConfig, resolve_config
from sdd_client.errors import (
    APIError,
    ChecksumMismatch,
    ConfigError,
    SDDClientError,
    ServerNotReady,
    ServiceUnreachable,
    WaitTimeout,
)

F = TypeVar("F", bound=Callable[..., Any])

EXIT_JOB_FAILED = 1
EXIT_REFUSED = 2
EXIT_SERVER = 3
UNREACHABLE_FIX = "Check --url (or SDD_URL / `sdd login`), or start one with `sdd up`."


def make_client(config: ClientConfig) -> SDDClient:
    """The client every command uses; tests replace this factory to point at an in-process app."""
    return SDDClient(config.url, config.token)


@contextmanager
def connect(url: str | None, token: str | None, *, logging_in: bool = False) -> Iterator[SDDClient]:
    """A client for ``--url``/``--token``, else SDD_URL/SDD_TOKEN, else the ``sdd login`` file.

    A refused token (401) is reported as what to do about it, naming where the token came from;
    ``logging_in`` is for ``sdd login`` itself, whose token is being checked, not stored.
    """
    if not logging.getLogger().isEnabledFor(logging.DEBUG):  # `sdd -v` shows every request
        logging.getLogger("httpx").setLevel(logging.WARNING)
    config = resolve_config(url, token)
    client = make_client(config)
    try:
        yield client
    except APIError as exc:
        if exc.status != 401:
            raise
        raise APIError(
            exc.status, exc.code, f"the server refused the token (401): {_token_fix(config, logging_in)}"
        ) from exc
    finally:
        client.close()


def _token_fix(config: ClientConfig, logging_in: bool) -> str:
    """What to do about a refused token, by where it came from."""
    if logging_in:
        return "check it (`sdd token create` on the server makes one)"
    if config.token_source == f"${TOKEN_ENV}":
        return (
            f"it came from ${TOKEN_ENV}, which wins over the token `sdd login` saved: "
            f"unset {TOKEN_ENV} to use the saved one, or set it to a valid token"
        )
    return f"run `sdd login` to store a new one (this one came from {config.token_source})"


def connection_options(command: F) -> F:
    """``--url`` and ``--token`` (defaults: SDD_URL/SDD_TOKEN, then the file ``sdd login`` writes)."""
    command = click.option(
        "--token", default=None, metavar="TOKEN", help="API token (default: $SDD_TOKEN, then `sdd login`'s config)."
    )(command)
    return click.option(
        "--url", default=None, metavar="URL", help="Server URL (default: $SDD_URL, then `sdd login`'s config)."
    )(command)


def submission_options(what: str, until: str) -> Callable[[F], F]:
    """``--idempotency-key``, ``--wait`` and ``--poll`` of a submission (``what``: "job", "sweep";
    ``until``: when --wait succeeds, e.g. "it succeeded")."""

    def decorate(command: F) -> F:
        command = click.option(
            "--poll", type=float, default=2.0, show_default=True, help="Seconds between polls with --wait."
        )(command)
        command = click.option("--wait", "wait_", is_flag=True, help=f"Watch until it ends; exit 1 unless {until}.")(
            command
        )
        return click.option("--idempotency-key", help=f"Retrying with the same key and body returns the same {what}.")(
            command
        )

    return decorate


def json_option(command: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of tables.")(command)


def fail(code: str, message: str, exit_code: int = EXIT_REFUSED, param: str | None = None) -> NoReturn:
    """Print ``error [code] message (param)`` on stderr and exit."""
    click.echo(f"error [{code}] {message}" + (f" ({param})" if param else ""), err=True)
    raise click.exceptions.Exit(exit_code)


def _report(exc: Exception) -> NoReturn:
    if isinstance(exc, APIError):
        fail(exc.code, exc.message, EXIT_REFUSED if exc.is_client_error else EXIT_SERVER, exc.param)
    if isinstance(exc, ServiceUnreachable):
        fail("unreachable", f"{exc}. {UNREACHABLE_FIX}", EXIT_SERVER)
    if isinstance(exc, ServerNotReady):
        fail("not_ready", str(exc), EXIT_SERVER)
    if isinstance(exc, ChecksumMismatch):
        fail("checksum_mismatch", str(exc), EXIT_SERVER)
    if isinstance(exc, WaitTimeout):
        fail("timeout", str(exc), EXIT_JOB_FAILED)
    if isinstance(exc, ConfigError):
        fail("config", str(exc))
    if isinstance(exc, FileExistsError):
        fail("file_exists", str(exc))
    fail("client_error", str(exc), EXIT_SERVER)


def reports_errors(command: F) -> F:
    """Turn the client's exceptions into an error line and an exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (SDDClientError, FileExistsError) as exc:
            _report(exc)

    return wrapper  # type: ignore[return-value]


def console(stderr: bool = False) -> Console:
    """A rich console on the current stdout (or stderr), resolved at call time."""
    return Console(stderr=stderr, highlight=False)


def print_json(value: Any) -> None:
    """Models and lists of models as indented JSON on stdout."""
    click.echo(json.dumps(_plain(value), indent=2))


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
