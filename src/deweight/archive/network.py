"""Timeouts, retries with exponential backoff, and the fast reachability probe."""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import InvalidHeader
from urllib3.util import Retry

from .errors import ServiceUnreachableError, TransientServiceError

__all__ = [
    "NetworkSettings",
    "TimeoutSession",
    "call_with_retries",
    "http_status_is_transient",
    "probe_service",
    "raise_for_http_status",
    "retry_after_seconds",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

# Exceptions from requests that mean "the network or server hiccuped", not "the
# request is wrong": a retry may succeed.
TRANSIENT_REQUEST_ERRORS: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


@dataclass(frozen=True)
class NetworkSettings:
    """Operational settings shared by every archive client.

    None of these change *what* is downloaded, so the workflow keeps them out of
    Snakemake's ``params:`` (a changed timeout must not trigger a re-download).

    Parameters
    ----------
    probe_timeout_s : float
        Time allowed for the reachability probe (DNS + TCP connect), in seconds.
    connect_timeout_s : float
        TCP connect timeout of each HTTP request, in seconds.
    read_timeout_s : float
        Time to wait for the server's next bytes on each HTTP request, in seconds.
    retries : int
        How many times a transient failure is retried (so ``retries + 1`` attempts).
    backoff_initial_s : float
        Delay before the first retry, in seconds; it doubles on every further retry.
    backoff_max_s : float
        Upper bound of a single delay, in seconds, also when a server's ``Retry-After``
        asks for longer.
    backoff_jitter : float
        Each delay is multiplied by a random factor in ``[1, 1 + backoff_jitter]`` so
        that parallel jobs do not retry in lock-step.
    tap_poll_initial_s : float
        First wait between two polls of an asynchronous TAP job's phase, in seconds.
    tap_poll_max_s : float
        Longest wait between two polls (the wait grows by 1.5x per poll), in seconds.
    tap_job_timeout_s : float
        A TAP job still running after this many seconds is aborted and reported.
    """

    probe_timeout_s: float = 10.0
    connect_timeout_s: float = 15.0
    read_timeout_s: float = 600.0
    retries: int = 5
    backoff_initial_s: float = 5.0
    backoff_max_s: float = 300.0
    backoff_jitter: float = 0.1
    tap_poll_initial_s: float = 2.0
    tap_poll_max_s: float = 60.0
    tap_job_timeout_s: float = 7200.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> NetworkSettings:
        """Build settings from the ``archive.network`` config mapping.

        Unknown keys raise ``ValueError`` so that a typo is not silently ignored.
        """
        config = dict(config or {})
        known = {field.name for field in fields(cls)}
        unknown = set(config) - known
        if unknown:
            raise ValueError(
                f"Unknown archive.network settings {sorted(unknown)}; known: {sorted(known)}"
            )
        return cls(**config)

    @property
    def request_timeout(self) -> tuple[float, float]:
        """``(connect, read)`` timeout tuple for ``requests``."""
        return (self.connect_timeout_s, self.read_timeout_s)

    def backoff_delay(self, retry_number: int) -> float:
        """Delay before retry number ``retry_number`` (0-based), in seconds."""
        delay = min(self.backoff_max_s, self.backoff_initial_s * 2.0**retry_number)
        return delay * (1.0 + self.backoff_jitter * random.random())


class TimeoutSession(requests.Session):
    """A ``requests.Session`` that applies a default timeout to every request.

    pyvo issues several requests (job submission, phase changes, result download)
    without a timeout; a server that stops answering would hang the workflow
    forever. This session fills in the timeout whenever the caller gave none.
    """

    def __init__(self, timeout: tuple[float, float]):
        super().__init__()
        self.default_timeout = timeout

    def request(self, method, url, **kwargs):  # noqa: D102 - same as requests.Session
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, **kwargs)


def http_status_is_transient(status_code: int) -> bool:
    """Whether an HTTP status is worth retrying (server errors and rate limiting)."""
    return status_code >= 500 or status_code == 429


def raise_for_http_status(response: requests.Response, service: str) -> None:
    """Raise a clear error for a non-2xx response.

    Raises
    ------
    TransientServiceError
        For 5xx and 429 responses, which the caller retries.
    ArchiveResponseError
        For any other non-2xx response.
    """
    from .errors import ArchiveResponseError

    status = response.status_code
    if 200 <= status < 300:
        return
    snippet = _body_snippet(response)
    message = f"{service} answered HTTP {status} for {response.url}: {snippet}"
    if http_status_is_transient(status):
        raise TransientServiceError(message, retry_after_s=retry_after_seconds(response))
    raise ArchiveResponseError(message)


def retry_after_seconds(response: requests.Response | None) -> float | None:
    """Seconds a response's ``Retry-After`` header asks to wait, or None without a valid one.

    urllib3 parses both forms of the header (delay in seconds, or an HTTP date).
    """
    value = None if response is None else response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return Retry().parse_retry_after(value)
    except InvalidHeader:
        return None


def _body_snippet(response: requests.Response, limit: int = 300) -> str:
    try:
        text = response.text
    except Exception:  # a body we cannot decode still deserves a status message
        return "<undecodable body>"
    return " ".join(text.split())[:limit] or "<empty body>"


def call_with_retries(
    operation: Callable[[], T],
    *,
    description: str,
    settings: NetworkSettings,
    transient: tuple[type[BaseException], ...] = (),
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``operation``, retrying transient failures with exponential backoff.

    Parameters
    ----------
    operation : callable
        Called without arguments; its return value is returned.
    description : str
        What the operation does and against which service/URL; used in log
        messages and in the final error.
    settings : NetworkSettings
        Number of retries and backoff delays.
    transient : tuple of exception types
        Extra exception types to treat as transient, in addition to
        ``TransientServiceError`` and requests' connection/timeout errors. A
        ``TransientServiceError`` carrying a server's ``Retry-After`` waits at least that
        long (up to ``settings.backoff_max_s``) before the next attempt.
    sleep : callable
        Injected for tests.

    Returns
    -------
    object
        Whatever ``operation`` returns.

    Raises
    ------
    TransientServiceError
        When every attempt failed transiently; it names the operation and chains the
        last underlying error.
    """
    retryable = (TransientServiceError, *TRANSIENT_REQUEST_ERRORS, *transient)
    attempts = settings.retries + 1
    for attempt in range(attempts):
        try:
            return operation()
        except retryable as error:
            if attempt + 1 >= attempts:
                raise TransientServiceError(
                    f"{description} failed after {attempts} attempts; last error: {error}"
                ) from error
            delay = settings.backoff_delay(attempt)
            asked = getattr(error, "retry_after_s", None)
            if asked is not None:  # the server's Retry-After, within backoff_max_s
                delay = max(delay, min(asked, settings.backoff_max_s))
            log.warning(
                "%s failed (attempt %d/%d: %s); retrying in %.1f s",
                description,
                attempt + 1,
                attempts,
                error,
                delay,
            )
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover - loop always returns or raises


def probe_service(service: str, url: str, timeout_s: float) -> None:
    """Check quickly that a TCP connection to the host of ``url`` can be opened.

    Run before any long work so that a machine without network fails within
    seconds, naming the service, instead of after minutes of retries. DNS
    resolution is not covered by socket timeouts, so the probe runs in a daemon
    thread and is abandoned after ``timeout_s``.

    Parameters
    ----------
    service : str
        Human-readable service name for the error message.
    url : str
        Any URL of the service (``https://host[:port]/...``) or a bare ``host[:port]``.
    timeout_s : float
        Overall time allowed, in seconds.

    Raises
    ------
    ServiceUnreachableError
        If the host cannot be resolved or connected to within ``timeout_s``.
    """
    host, port = _host_and_port(url)
    outcome: dict[str, BaseException | None] = {}

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                outcome["error"] = None
        except BaseException as error:  # reported to the caller below
            outcome["error"] = error

    worker = threading.Thread(target=connect, name=f"probe-{host}", daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise ServiceUnreachableError(
            service, url, f"no connection to {host}:{port} within {timeout_s:g} s"
        )
    error = outcome.get("error")
    if error is not None:
        # The reason is in the message; the low-level traceback would only bury it.
        raise ServiceUnreachableError(
            service, url, f"connecting to {host}:{port} failed ({error!r})"
        ) from None
    log.info("%s reachable at %s:%d (%.2f s)", service, host, port, time.monotonic() - started)


def _host_and_port(url: str) -> tuple[str, int]:
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError(f"Cannot find a host name in {url!r}")
    default_port = 80 if parts.scheme == "http" else 443
    return parts.hostname, parts.port or default_port
