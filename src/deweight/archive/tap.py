"""Asynchronous TAP queries (UWS jobs) with polling, a time limit and overflow checks."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any
from xml.parsers.expat import ExpatError

import requests
from astropy.io.votable.exceptions import VOTableSpecError
from astropy.table import Table
from pyvo.dal import TAPService
from pyvo.dal.exceptions import (
    DALFormatError,
    DALOverflowWarning,
    DALQueryError,
    DALServiceError,
)

from .errors import (
    ArchiveResponseError,
    TapJobFailedError,
    TapJobTimeoutError,
    TransientServiceError,
    TruncatedResultError,
)
from .network import (
    TRANSIENT_REQUEST_ERRORS,
    NetworkSettings,
    TimeoutSession,
    call_with_retries,
    http_status_is_transient,
    retry_after_seconds,
)

__all__ = ["run_async_query", "votable_reports_overflow"]

log = logging.getLogger(__name__)

# A VOTable cut off mid-stream fails in the XML parser (astropy's iterparser raises
# ValueError "unclosed token"); the result is still on the server, so fetching it
# again is worth a try.
TRUNCATED_VOTABLE_ERRORS = (ExpatError, VOTableSpecError, DALFormatError, ValueError)


def run_async_query(
    service_url: str,
    adql: str,
    *,
    service_name: str,
    settings: NetworkSettings,
    maxrec: int,
    uploads: Mapping[str, Table] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Table:
    """Run an ADQL query as an asynchronous TAP job and return its complete result.

    The job goes through the UWS life cycle PENDING -> EXECUTING -> COMPLETED; its
    phase is polled with a growing interval. Submission and polling failures that
    are transient (timeouts, dropped connections, HTTP 5xx) resubmit the job; a
    result that fails to parse (e.g. a VOTable cut short) is fetched again.

    Parameters
    ----------
    service_url : str
        TAP base URL, e.g. ``https://irsa.ipac.caltech.edu/TAP``.
    adql : str
        The query.
    service_name : str
        Human-readable name used in messages.
    settings : NetworkSettings
        Timeouts, retries and polling intervals.
    maxrec : int
        Row limit requested from the service. Reaching it counts as truncation.
    uploads : mapping of str to astropy.table.Table, optional
        Tables to upload (multipart), referenced in ADQL as ``TAP_UPLOAD.<name>``.
    sleep : callable
        Injected for tests.

    Returns
    -------
    astropy.table.Table
        The full result.

    Raises
    ------
    TapJobFailedError
        The job ended in phase ERROR or ABORTED (the server's message is included).
    TapJobTimeoutError
        The job was still running after ``settings.tap_job_timeout_s``.
    TruncatedResultError
        The result reports OVERFLOW or has ``maxrec`` rows.
    TransientServiceError
        Transient failures persisted through every retry.
    ArchiveResponseError
        Any other refusal by the service.
    """
    session = TimeoutSession(settings.request_timeout)
    service = TAPService(service_url, session=session)
    description = f"{service_name} TAP job at {service_url}"

    def submit_and_wait():
        with _translated_pyvo_errors(service_name, service_url):
            job = service.submit_job(adql, uploads=dict(uploads or {}), maxrec=maxrec)
        log.info("Submitted %s: %s", description, job.url)
        try:
            with _translated_pyvo_errors(service_name, job.url):
                job.run()
                _wait_for_completion(job, service_name, settings, sleep)
        except (TransientServiceError, TapJobTimeoutError):
            _abort_quietly(job)
            raise
        return job

    job = call_with_retries(
        submit_and_wait, description=f"Running {description}", settings=settings, sleep=sleep
    )
    try:
        return call_with_retries(
            lambda: _fetch_result(job, service_name, maxrec),
            description=f"Fetching the result of {description} ({job.url})",
            settings=settings,
            sleep=sleep,
        )
    finally:
        _delete_quietly(job)


def _wait_for_completion(job, service_name: str, settings: NetworkSettings, sleep) -> None:
    deadline = time.monotonic() + settings.tap_job_timeout_s
    interval = settings.tap_poll_initial_s
    while True:
        phase = _current_phase(job, service_name)
        if phase == "COMPLETED":
            return
        if phase in {"ERROR", "ABORTED"}:
            try:
                job.raise_if_error()  # pyvo puts the server's errorSummary in the message
                summary = "<no error message from the server>"
            except DALQueryError as error:
                summary = str(error)
            raise TapJobFailedError(
                f"{service_name} TAP job {job.url} ended in phase {phase}: {summary}"
            )
        if time.monotonic() >= deadline:
            phase = phase or "unknown (its last polls failed)"
            raise TapJobTimeoutError(
                f"{service_name} TAP job {job.url} still in phase {phase} after "
                f"{settings.tap_job_timeout_s:g} s (archive.network.tap_job_timeout_s); "
                "it was aborted"
            )
        log.debug(
            "%s job %s in phase %s; next poll in %.1f s", service_name, job.url, phase, interval
        )
        sleep(min(interval, max(0.0, deadline - time.monotonic())))
        interval = min(settings.tap_poll_max_s, interval * 1.5)


def _current_phase(job, service_name: str) -> str | None:
    """The job's phase, or None when this poll failed transiently.

    pyvo polls with a fixed read timeout (10 s) that a session's timeout does not lengthen,
    and IRSA's job pages can take longer to answer (``shared/ARCHIVE_FACTS.md``). A running
    job is not lost by a slow poll: the same job is polled again, up to the job's own time
    limit, instead of being aborted and the query resubmitted.
    """
    try:
        with _translated_pyvo_errors(service_name, job.url):
            return job.phase
    except (TransientServiceError, *TRANSIENT_REQUEST_ERRORS) as error:
        log.warning(
            "%s: polling job %s failed (%s); polling it again", service_name, job.url, error
        )
        return None


def _fetch_result(job, service_name: str, maxrec: int) -> Table:
    with warnings.catch_warnings():
        # pyvo only warns about an overflow; here it is an error.
        warnings.simplefilter("error", DALOverflowWarning)
        try:
            with _translated_pyvo_errors(service_name, job.url):
                result = job.fetch_result()
        except DALOverflowWarning as warning:
            raise TruncatedResultError(
                f"{service_name} result of job {job.url} was truncated: {warning}"
            ) from warning
        except TRUNCATED_VOTABLE_ERRORS as error:
            raise TransientServiceError(
                f"{service_name} result of job {job.url} is not a complete VOTable ({error})"
            ) from error
    if votable_reports_overflow(result.votable):
        raise TruncatedResultError(
            f"{service_name} result of job {job.url} reports QUERY_STATUS=OVERFLOW"
        )
    table = result.to_table()
    if len(table) >= maxrec:
        raise TruncatedResultError(
            f"{service_name} result of job {job.url} has {len(table)} rows, the MAXREC limit "
            f"({maxrec}); rows may be missing. Use smaller chunks or a larger maxrec."
        )
    return table


def votable_reports_overflow(votable: Any) -> bool:
    """Whether any ``QUERY_STATUS`` INFO in a parsed VOTable says ``OVERFLOW``.

    DALI puts the status before and/or after the table, at any resource level, so
    every INFO element is examined.
    """

    def infos_of(element) -> list:
        found = list(getattr(element, "infos", []))
        for resource in getattr(element, "resources", []):
            found += infos_of(resource)
        for table in getattr(element, "tables", []):
            found += list(getattr(table, "infos", []))
        return found

    return any(
        (info.name or "").upper() == "QUERY_STATUS" and (info.value or "").upper() == "OVERFLOW"
        for info in infos_of(votable)
    )


class _translated_pyvo_errors:
    """Map pyvo's exceptions onto transient / permanent archive errors."""

    def __init__(self, service_name: str, url: str):
        self.service_name = service_name
        self.url = url

    def __enter__(self):
        return self

    def __exit__(self, exc_type, error, traceback):
        if error is None or not isinstance(error, DALServiceError | DALQueryError):
            return False
        message = f"{self.service_name} at {self.url}: {error}"
        if isinstance(error, DALQueryError):
            raise ArchiveResponseError(message) from error
        cause = getattr(error, "cause", None)
        if (error.code and http_status_is_transient(error.code)) or isinstance(
            cause, requests.exceptions.ConnectionError | requests.exceptions.Timeout
        ):
            wait = retry_after_seconds(getattr(cause, "response", None))
            raise TransientServiceError(message, retry_after_s=wait) from error
        raise ArchiveResponseError(message) from error


def _abort_quietly(job) -> None:
    try:
        job.abort()
    except Exception as error:  # best effort: the job expires on the server anyway
        log.debug("Could not abort %s: %s", job.url, error)


def _delete_quietly(job) -> None:
    try:
        job.delete()
    except Exception as error:  # best effort: the job expires on the server anyway
        log.debug("Could not delete %s: %s", getattr(job, "url", "?"), error)
