"""Our TAP client code against answers the real services gave, recorded by astropy/pyvo.

The documents (BSD-3, tests/fixtures/recorded/PROVENANCE.md) are UWS job documents of a
finished and of a failed job, in UWS 1.1 and in the implicit 1.0 form, and TAP query
VOTables with QUERY_STATUS OK, OVERFLOW and ERROR.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pytest
from astropy.io import votable
from astropy.io.votable.exceptions import VOWarning
from pyvo.io import uws

from deweight.archive import TapJobFailedError
from deweight.archive.tap import _wait_for_completion, run_async_query, votable_reports_overflow

pytest_plugins = ["archive_server"]

RECORDED = Path(__file__).parent / "fixtures" / "recorded"


def _parsed_votable(name: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VOWarning)
        return votable.parse(io.BytesIO((RECORDED / name).read_bytes()), verify="ignore")


@pytest.mark.parametrize(
    "name, overflow",
    [
        ("pyvo_query_basic.xml", False),
        ("pyvo_query_tableinfo.xml", False),
        ("pyvo_query_errorstatus.xml", False),
        ("pyvo_query_overflowstatus.xml", True),
    ],
)
def test_overflow_is_read_from_recorded_query_status(name, overflow):
    assert votable_reports_overflow(_parsed_votable(name)) is overflow


class _RecordedJob:
    """A pyvo job whose page is a recorded UWS document (what pyvo's job._update parses)."""

    def __init__(self, name: str):
        self._job = uws.parse_job(io.BytesIO((RECORDED / name).read_bytes()))
        self.url = f"recorded:{name}"

    @property
    def phase(self):
        return self._job.phase

    def raise_if_error(self):
        from pyvo.dal.exceptions import DALQueryError

        if self._job.phase == "ERROR":
            raise DALQueryError(self._job.errorsummary.message.content)


@pytest.mark.parametrize("name", ["pyvo_uws_job.xml", "pyvo_uws_job-implicit-v1.0.xml"])
def test_a_recorded_finished_job_is_complete_for_our_poller(name, fast_network):
    _wait_for_completion(_RecordedJob(name), "recorded TAP", fast_network, lambda s: None)


def test_a_recorded_failed_job_is_an_error_with_the_servers_message(fast_network):
    with pytest.raises(TapJobFailedError, match="phase ERROR: .*We have problem"):
        _wait_for_completion(
            _RecordedJob("pyvo_uws_job-error.xml"), "recorded TAP", fast_network, lambda s: None
        )


def test_the_local_sky_serves_the_recorded_error_document(fake_archive, fast_network):
    # The whole client (pyvo's HTTP and UWS parsing, then ours) on the recorded document.
    fake_archive.inject("tap_create", "recorded_job_error")
    with pytest.raises(TapJobFailedError, match="We have problem"):
        run_async_query(
            f"{fake_archive.base_url}/tap",
            "SELECT ra, dec FROM allwise_p3as_psd",
            service_name="IRSA TAP (AllWISE)",
            settings=fast_network,
            maxrec=10,
        )
    assert len(fake_archive.requests_to("tap_create")) == 1  # a failed job is not resubmitted
