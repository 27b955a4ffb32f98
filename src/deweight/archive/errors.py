"""Exceptions raised by archive acquisition.

Every message names the service and the URL involved, so that a failed workflow
job says which archive misbehaved without anyone reading a traceback.
"""

from __future__ import annotations

__all__ = [
    "ArchiveError",
    "ArchiveResponseError",
    "ChecksumMismatchError",
    "RowCountMismatchError",
    "ServiceUnreachableError",
    "TapJobFailedError",
    "TapJobTimeoutError",
    "TransientServiceError",
    "TruncatedResultError",
]

OFFLINE_HINT = (
    "data.source is 'archive', which downloads from the archives and needs network "
    "access. To run offline on the bundled real data instead, set `data: {source: bundled}` "
    "in config/config.yaml (the default) and run `snakemake --cores 2`."
)


class ArchiveError(RuntimeError):
    """Base class of every acquisition failure."""


class TransientServiceError(ArchiveError):
    """A failure worth retrying: timeout, dropped connection, HTTP 5xx or 429.

    Parameters
    ----------
    message : str
        What failed, naming the service and the URL.
    retry_after_s : float, optional
        How long the server asked to be left alone (its ``Retry-After`` header), in seconds.
    """

    def __init__(self, message: str, *, retry_after_s: float | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ServiceUnreachableError(ArchiveError):
    """The reachability probe could not open a connection to the service.

    Parameters
    ----------
    service : str
        Human-readable name of the service, e.g. ``"SDSS SkyServer"``.
    url : str
        The URL that was probed.
    reason : str
        Why the connection failed.
    """

    def __init__(self, service: str, url: str, reason: str):
        self.service = service
        self.url = url
        self.reason = reason
        super().__init__(f"Could not reach {service} at {url}: {reason}. {OFFLINE_HINT}")


class ArchiveResponseError(ArchiveError):
    """The service answered, but not with the table that was asked for.

    Raised for an HTML error page, an error message in place of data, unexpected
    columns or an unparsable body. Not retried: the same request would get the same
    answer.
    """


class TruncatedResultError(ArchiveError):
    """The result was cut short (overflow status, row limit reached, cap approached).

    A truncated result is never kept: silently losing rows would bias every class
    fraction computed downstream.
    """


class RowCountMismatchError(ArchiveError):
    """A catalogue did not have the number of rows it is known to have."""


class ChecksumMismatchError(ArchiveError):
    """A downloaded file's checksum differs from the expected one."""


class TapJobFailedError(ArchiveError):
    """An asynchronous TAP job ended in phase ERROR or ABORTED."""


class TapJobTimeoutError(ArchiveError):
    """An asynchronous TAP job did not finish within the allowed time."""
