"""Reachability probe, retries, chunk storage and the offline fast-fail of the workflow."""

import email.utils
import socket
import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow.parquet as pq
import pytest
import requests

from deweight.archive import (
    ArchiveResponseError,
    ChunkStore,
    NetworkSettings,
    ServiceUnreachableError,
    TransientServiceError,
    call_with_retries,
    probe_service,
)
from deweight.archive.files import atomic_path
from deweight.archive.network import raise_for_http_status


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_probe_of_a_closed_port_fails_fast_naming_the_service_and_the_offline_default():
    url = f"https://127.0.0.1:{closed_port()}/TAP"
    started = time.monotonic()
    with pytest.raises(ServiceUnreachableError) as caught:
        probe_service("IRSA TAP (AllWISE)", url, timeout_s=5)
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert message.startswith(f"Could not reach IRSA TAP (AllWISE) at {url}")
    assert "data: {source: bundled}" in message
    assert "snakemake --cores 2" in message


def test_probe_of_a_host_that_never_answers_gives_up_after_its_timeout():
    # A listening socket whose accept queue is full drops further SYNs, so a connect
    # hangs exactly as it does towards an unroutable address: the probe must not wait
    # longer than asked.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        fillers = [socket.socket() for _ in range(4)]
        for filler in fillers:
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
        time.sleep(0.1)
        started = time.monotonic()
        with pytest.raises(ServiceUnreachableError, match="Could not reach Zenodo"):
            probe_service("Zenodo", f"https://127.0.0.1:{port}/records/1", timeout_s=1.0)
        assert time.monotonic() - started < 3
        for filler in fillers:
            filler.close()


def test_probe_of_an_unresolvable_host_fails_fast():
    with pytest.raises(ServiceUnreachableError, match="does-not-exist.invalid"):
        probe_service("CDS VizieR", "does-not-exist.invalid", timeout_s=5)


def test_probe_succeeds_against_a_listening_port():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        probe_service("local", f"http://127.0.0.1:{server.getsockname()[1]}", timeout_s=2)


def test_retries_back_off_exponentially_then_give_up_with_the_last_error():
    delays, attempts = [], []
    network = NetworkSettings(retries=3, backoff_initial_s=0.5, backoff_max_s=1.5, backoff_jitter=0)

    def always_times_out():
        attempts.append(1)
        raise requests.exceptions.ReadTimeout("read timed out")

    with pytest.raises(TransientServiceError, match="Fetching X from Y failed after 4 attempts"):
        call_with_retries(
            always_times_out, description="Fetching X from Y", settings=network, sleep=delays.append
        )
    assert len(attempts) == 4
    assert delays == [0.5, 1.0, 1.5]


def test_server_busy_answers_are_retried_after_the_wait_the_server_asks_for(httpserver):
    # Over HTTP on 127.0.0.1: a 503 without Retry-After (exponential backoff), a 429 asking for
    # 2 s (longer than the backoff, so honoured), a 503 asking for an hour as an HTTP date
    # (more than backoff_max_s, so capped), then the answer.
    an_hour_on = email.utils.format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    for status, headers in [
        (503, {}),
        (429, {"Retry-After": "2"}),
        (503, {"Retry-After": an_hour_on}),
    ]:
        httpserver.expect_ordered_request("/table").respond_with_data(
            "busy", status=status, headers=headers
        )
    httpserver.expect_ordered_request("/table").respond_with_data("the table")
    url = httpserver.url_for("/table")
    network = NetworkSettings(retries=3, backoff_initial_s=0.5, backoff_max_s=10, backoff_jitter=0)
    delays = []

    def fetch():
        response = requests.get(url, timeout=5)
        raise_for_http_status(response, "Local archive")
        return response.text

    result = call_with_retries(
        fetch, description=f"GET {url}", settings=network, sleep=delays.append
    )
    assert result == "the table"
    assert delays == [0.5, 2.0, 10.0]
    httpserver.check_assertions()


def test_a_server_that_stays_busy_ends_in_an_error_naming_the_url_and_the_attempts(httpserver):
    httpserver.expect_request("/table").respond_with_data("down", status=503)
    url = httpserver.url_for("/table")
    network = NetworkSettings(retries=2, backoff_initial_s=0.1, backoff_jitter=0)

    def fetch():
        raise_for_http_status(requests.get(url, timeout=5), "Local archive")

    with pytest.raises(TransientServiceError) as caught:
        call_with_retries(fetch, description=f"GET {url}", settings=network, sleep=lambda s: None)
    message = str(caught.value)
    assert f"GET {url} failed after 3 attempts" in message
    assert f"Local archive answered HTTP 503 for {url}: down" in message
    assert len(httpserver.log) == 3


@pytest.mark.parametrize("status", [429, 503])
def test_a_tap_service_busy_answer_keeps_its_retry_after_through_pyvo(httpserver, status):
    from pyvo.dal.exceptions import DALServiceError

    from deweight.archive.tap import _translated_pyvo_errors

    httpserver.expect_request("/tap/async").respond_with_data(
        "busy", status=status, headers={"Retry-After": "7"}
    )
    url = httpserver.url_for("/tap/async")
    with pytest.raises(TransientServiceError, match=f"IRSA TAP at {url}") as caught:
        with _translated_pyvo_errors("IRSA TAP", url):
            try:
                requests.post(url, timeout=5).raise_for_status()
            except requests.HTTPError as error:
                raise DALServiceError.from_except(error, url) from error  # as pyvo does
    assert caught.value.retry_after_s == 7.0


@pytest.mark.parametrize("header", ["soon", "", "-5"])
def test_a_malformed_retry_after_falls_back_to_the_backoff(httpserver, header):
    httpserver.expect_request("/table").respond_with_data(
        "busy", status=503, headers={"Retry-After": header}
    )
    response = requests.get(httpserver.url_for("/table"), timeout=5)
    with pytest.raises(TransientServiceError) as caught:
        raise_for_http_status(response, "Local archive")
    assert caught.value.retry_after_s is None


def test_permanent_errors_are_not_retried():
    attempts = []

    def refused():
        attempts.append(1)
        raise ArchiveResponseError("HTTP 400")

    with pytest.raises(ArchiveResponseError):
        call_with_retries(
            refused, description="x", settings=NetworkSettings(), sleep=lambda s: None
        )
    assert len(attempts) == 1


def test_atomic_path_leaves_no_file_when_writing_fails(tmp_path):
    target = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_bytes(b"half")
            raise RuntimeError("killed")
    assert not list(tmp_path.iterdir())


def test_chunks_with_all_missing_or_no_rows_take_the_type_of_the_others(tmp_path):
    store = ChunkStore(tmp_path / "t.parquet", "plan-a")
    store.save(0, pd.DataFrame({"id": pd.Series([1], dtype="uint64"), "subClass": [float("nan")]}))
    store.save(
        1,
        pd.DataFrame(
            {"id": pd.Series([], dtype="uint64"), "subClass": pd.Series([], dtype=object)}
        ),
    )
    store.save(2, pd.DataFrame({"id": pd.Series([2**63 + 5], dtype="uint64"), "subClass": ["K3"]}))
    assert store.assemble([0, 1, 2]) == 2
    table = pq.read_table(tmp_path / "t.parquet")
    assert str(table.schema.field("subClass").type) in {"string", "large_string"}
    assert table.column("id").to_pylist() == [1, 2**63 + 5]
    assert table.column("subClass").to_pylist() == [None, "K3"]


def test_chunk_store_keeps_chunks_of_the_same_plan_and_drops_those_of_another(tmp_path):
    output = tmp_path / "t.parquet"
    ChunkStore(output, "plan-a").save(0, pd.DataFrame({"x": [1]}))
    assert ChunkStore(output, "plan-a").completed() == [0]
    assert ChunkStore(output, "plan-b").completed() == []
