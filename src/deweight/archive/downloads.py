"""Resumable, checksummed HTTP downloads (Zenodo files, the Fermi-LAT 4LAC FITS files).

A download goes to ``<path>.part`` and is resumed with an HTTP Range request after a dropped
connection or a rerun; the finished file is verified against its checksum (``md5:<hex>`` or
``sha256:<hex>``) before it is moved into place, so a truncated or corrupted file is never
kept.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from .errors import ArchiveResponseError, ChecksumMismatchError
from .files import file_digest
from .network import (
    NetworkSettings,
    TimeoutSession,
    call_with_retries,
    raise_for_http_status,
)

__all__ = ["DOWNLOAD_BLOCK_BYTES", "download_with_resume"]

log = logging.getLogger(__name__)


# Bytes written per read; at most this much is lost (and fetched again) when the
# connection drops.
DOWNLOAD_BLOCK_BYTES = 64 * 1024


def _parse_checksum(checksum: str) -> tuple[str, str]:
    match = re.fullmatch(r"(md5|sha1|sha256|sha512):([0-9a-fA-F]+)", checksum.strip())
    if not match:
        raise ValueError(f"Checksum must look like 'md5:<hex>' or 'sha256:<hex>', not {checksum!r}")
    return match.group(1), match.group(2).lower()


def download_with_resume(
    url: str,
    destination: str | Path,
    *,
    settings: NetworkSettings,
    checksum: str | None = None,
    service: str | None = None,
) -> dict[str, Any]:
    """Stream ``url`` to ``destination``, resuming an interrupted download.

    Bytes go to ``<destination>.part``. A rerun (or a retry after a dropped
    connection) asks for the remainder with an HTTP ``Range`` header; a server that
    ignores it (HTTP 200) is answered by starting over. Only a complete file whose
    checksum matches is moved to ``destination``.

    Parameters
    ----------
    url : str
        File URL.
    destination : path
        Where the complete file goes.
    settings : NetworkSettings
        Timeouts and retries.
    checksum : str, optional
        ``"<algorithm>:<hex>"`` (md5, sha1, sha256 or sha512).
    service : str, optional
        Service name for messages (default: the URL's host).

    Returns
    -------
    dict
        ``bytes``, ``md5``, ``sha256`` and the verified ``checksum`` (or None).

    Raises
    ------
    ChecksumMismatchError
        The complete file does not match ``checksum``; the partial file is deleted
        so that the next run starts afresh.
    TransientServiceError
        The download kept failing after every retry (the ``.part`` file is kept for
        the next run to resume).
    """
    service = service or (urlsplit(url).hostname or url)
    destination = Path(destination)
    partial = Path(str(destination) + ".part")
    destination.parent.mkdir(parents=True, exist_ok=True)
    session = TimeoutSession(settings.request_timeout)

    def attempt() -> None:
        offset = partial.stat().st_size if partial.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with session.get(url, headers=headers, stream=True) as response:
            if response.status_code == 416 and offset:
                total = _total_from_content_range(response.headers.get("Content-Range", ""))
                if total == offset:
                    log.info("%s: %s already complete (%d bytes)", service, partial, offset)
                    return
                log.warning("%s refused the resume range for %s; starting over", service, url)
                partial.unlink()
                raise requests.exceptions.ConnectionError("range not satisfiable; restarting")
            raise_for_http_status(response, service)
            if response.status_code == 206:
                start = _start_from_content_range(response.headers.get("Content-Range", ""))
                if start != offset:
                    partial.unlink(missing_ok=True)
                    raise ArchiveResponseError(
                        f"{service} at {url} resumed at byte {start}, not {offset}"
                    )
                expected_total = _total_from_content_range(
                    response.headers.get("Content-Range", "")
                )
                mode = "ab"
                log.info("%s: resuming %s at byte %d", service, destination.name, offset)
            else:
                if offset:
                    log.warning("%s ignored the Range request for %s; starting over", service, url)
                offset = 0
                length = response.headers.get("Content-Length")
                expected_total = int(length) if length is not None else None
                mode = "wb"
            with open(partial, mode) as stream:
                for block in response.iter_content(DOWNLOAD_BLOCK_BYTES):
                    stream.write(block)
        size = partial.stat().st_size
        if expected_total is not None and size < expected_total:
            # urllib3 normally raises on a short body; this guards the remaining cases.
            raise requests.exceptions.ConnectionError(
                f"download of {url} stopped at {size} of {expected_total} bytes"
            )
        if expected_total is not None and size > expected_total:
            partial.unlink()
            raise ArchiveResponseError(
                f"{service} at {url}: received {size} bytes, more than the announced "
                f"{expected_total}"
            )

    call_with_retries(attempt, description=f"Download of {url} from {service}", settings=settings)

    digests = _digests(partial, ("md5", "sha256"))
    verified = None
    if checksum:
        algorithm, expected = _parse_checksum(checksum)
        actual = digests.get(algorithm) or file_digest(partial, algorithm)
        if actual != expected:
            partial.unlink()
            raise ChecksumMismatchError(
                f"{service} file {url}: {algorithm} {actual} does not match the expected "
                f"{expected}; the download was deleted"
            )
        verified = f"{algorithm}:{expected}"
    os.replace(partial, destination)
    return {"bytes": destination.stat().st_size, **digests, "checksum": verified}


def _reuse_download(download: Path, checksum: str | None) -> dict[str, Any] | None:
    """Details of an earlier complete download, or None if there is none to reuse.

    A file only reaches its final name once complete (and verified when a checksum
    was known), so it is reused; with a checksum now known it is verified again and
    deleted on mismatch.
    """
    if not download.exists():
        return None
    if checksum:
        algorithm, expected = _parse_checksum(checksum)
        if file_digest(download, algorithm) != expected:
            log.warning("Earlier download %s fails its checksum; downloading again", download)
            download.unlink()
            return None
    log.info("Reusing the complete download %s", download)
    return {"bytes": download.stat().st_size, "checksum": checksum or None, "reused": True}


def _start_from_content_range(header: str) -> int | None:
    match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", header)
    return int(match.group(1)) if match else None


def _total_from_content_range(header: str) -> int | None:
    match = re.search(r"/(\d+)$", header.strip())
    return int(match.group(1)) if match else None


def _digests(path: Path, algorithms: Sequence[str]) -> dict[str, str]:
    hashers = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as stream:
        while block := stream.read(8 * 1024 * 1024):
            for hasher in hashers.values():
                hasher.update(block)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}
