"""A fake astronomical archive on 127.0.0.1 for offline tests of deweight.archive.

`FakeArchive` is a threaded HTTP(S) server that speaks the protocols the real
clients use, so astroquery and pyvo talk to it over a socket exactly as they
would to the archives:

- SkyServer SQL search (``/dr16/en/tools/search/x_results.aspx?cmd=...&format=csv``),
  answering in SkyServer's ``#Table1`` CSV from the fixture tables, honouring the
  ``specObjID`` range and the ``SpecObj JOIN PhotoObj/TwoMass`` of the query.
- TAP (``/tap``): synchronous queries and asynchronous UWS jobs (PENDING ->
  EXECUTING -> COMPLETED/ERROR, ``phase``, ``results/result``), with multipart
  table upload; an AllWISE-like catalogue is cross-matched to uploaded positions.
- VizieR (``/viz-bin/votable``, POST of an ASU script) returning recorded-format
  VOTables.
- A Zenodo-like file download (``/records/<id>/files/<name>`` and the API's
  ``/api/records/<id>/files/<name>/content``) with HTTP Range support, and the record
  API (``/api/records/<id>``: ``files[].key``/``checksum``/``links.self``), which
  answers 404 for a concept id, as Zenodo does; the search API lists a concept's versions;
  ``links.latest`` leads to the newest).
- A Fermi-LAT FSSC-like 4LAC page (``/ssc/data/access/lat/4LACDR3/<file>``), with Range.

Faults are injected per route with `FakeArchive.inject` and consumed one per
request: ``"timeout"`` (answer after ``slow_seconds``), ``"503"``, ``"html"`` (an
HTML error page with status 200), ``"truncated"`` (body cut short but a complete
HTTP message), ``"overflow"`` (QUERY_STATUS=OVERFLOW), ``"job_error"``,
``"recorded_job_error"`` (pyvo's recorded UWS error document) and ``"job_stuck"`` (for
``tap_create``), ``"db_unreachable"`` (for ``vizier``: VizieR's recorded "database is not
currently reachable" VOTable with status 200), ``"cut"`` (connection closed half-way through
a download) and ``"ignore_range"``. An SQL error is SkyServer's HTTP 500 with a JSON body. Every request is recorded, so tests
can count what was fetched.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import io
import itertools
import json
import re
import ssl
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.coordinates import SkyCoord, search_around_sky
from astropy.io import votable
from astropy.io.votable.tree import Info
from astropy.table import Table

from deweight.archive import NetworkSettings

FIXTURES = Path(__file__).parent / "fixtures" / "archive"
#: Answers of the real services recorded by astropy/pyvo and astropy/astroquery (BSD-3; see
#: fixtures/recorded/PROVENANCE.md).
RECORDED = Path(__file__).parent / "fixtures" / "recorded"
TLS_CERT = FIXTURES / "tls" / "localhost-cert.pem"
TLS_KEY = FIXTURES / "tls" / "localhost-key.pem"

VIZIER_FIXTURES = {
    "VII/274": "vizier_bzcat5.xml",
    "J/ApJ/892/105": "vizier_4lac_dr1.xml",
}


def read_skyserver_fixture(name: str) -> pd.DataFrame:
    """A fixture table in SkyServer CSV format, with SDSS ids as 64-bit integers."""
    return pd.read_csv(
        FIXTURES / name,
        comment="#",
        dtype={"specObjID": "uint64", "bestObjID": "int64", "objID": "int64"},
        keep_default_na=False,
        na_values=[""],
    )


@dataclass
class RecordedRequest:
    """One request as the server saw it."""

    route: str
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    fault: str | None


@dataclass
class FakeJob:
    """State of one UWS job."""

    job_id: str
    parameters: dict[str, str]
    uploads: dict[str, Table]
    fault: str | None
    phase: str = "PENDING"
    polls_while_executing: int = 0


@dataclass
class FakeArchive:
    """The fake archive; see the module docstring.

    Parameters
    ----------
    use_tls : bool
        Serve HTTPS with the test certificate (VizieR URLs are always https).
    slow_seconds : float
        How long a ``"timeout"`` fault delays its answer.
    polls_to_complete : int
        Phase polls an executing job needs before it completes.
    """

    use_tls: bool = False
    slow_seconds: float = 1.0
    polls_to_complete: int = 2
    specobj: pd.DataFrame = field(
        default_factory=lambda: read_skyserver_fixture("skyserver_specobj.csv")
    )
    photoobj: pd.DataFrame = field(
        default_factory=lambda: read_skyserver_fixture("skyserver_photoobj.csv")
    )
    twomass: pd.DataFrame = field(
        default_factory=lambda: read_skyserver_fixture("skyserver_twomass.csv")
    )
    allwise: pd.DataFrame = field(
        default_factory=lambda: pd.read_csv(
            FIXTURES / "allwise_catalogue.csv", keep_default_na=False, na_values=[""]
        )
    )
    files: dict[str, bytes] = field(default_factory=dict)
    #: Zenodo: files of other record versions (record id -> name -> content); ``files`` are
    #: those of ``record_id``. As on Zenodo, ``concept_id`` (Clarke et al.'s 3459293, all
    #: versions) is no record: the record API answers 404 and the search API lists its versions
    #: (``latest_id``, default record_id, is the newest; 3459294 is the authors' v1).
    record_files: dict[int, dict[str, bytes]] = field(default_factory=dict)
    record_id: int = 3459294
    concept_id: int = 3459293
    latest_id: int | None = None
    #: Fermi-LAT FSSC files (name -> content) under /ssc/data/access/lat/4LACDR3/.
    fermi_files: dict[str, bytes] = field(default_factory=dict)
    #: VizieR answers by catalogue (e.g. "VII/274"), consulted before the fixture files.
    vizier_tables: dict[str, bytes] = field(default_factory=dict)
    #: Seconds each SkyServer answer waits (lets a test interrupt a download between chunks).
    skyserver_delay_s: float = 0.0
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self):
        self._faults: dict[str, deque[str]] = defaultdict(deque)
        self._jobs: dict[str, FakeJob] = {}
        self._job_ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- control ---------------------------------------------------------------
    def start(self) -> FakeArchive:
        handler = type("Handler", (_Handler,), {"archive": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        if self.use_tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(TLS_CERT, TLS_KEY)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def host_port(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    @property
    def base_url(self) -> str:
        return f"{'https' if self.use_tls else 'http'}://{self.host_port}"

    def inject(self, route: str, *faults: str | None) -> None:
        """Queue faults for the next requests to ``route`` (one per request; None: no fault)."""
        with self._lock:
            self._faults[route].extend(faults)

    def requests_to(self, route: str) -> list[RecordedRequest]:
        with self._lock:
            return [request for request in self.requests if request.route == route]

    def add_file(self, name: str, content: bytes, record: int | None = None) -> str:
        """Serve ``content`` as a file of a Zenodo record (default ``record_id``); return its URL."""
        if record is None or record == self.record_id:
            self.files[name] = content
            record = self.record_id
        else:
            self.record_files.setdefault(record, {})[name] = content
        return f"{self.base_url}/records/{record}/files/{name}"

    def files_of(self, record: int) -> dict[str, bytes] | None:
        if record == self.record_id:
            return self.files
        return self.record_files.get(record)

    def zenodo_document(self, record: int) -> dict | None:
        """The record API document of one version, None for any other id (a concept too)."""
        archive = self
        files = archive.files_of(record)
        if files is None:
            return None
        base = f"{archive.base_url}/api/records/{record}"
        versions = sorted({archive.record_id, *archive.record_files})
        document = {
            "id": record,
            "conceptrecid": str(archive.concept_id),
            "doi": f"10.5281/zenodo.{record}",
            "metadata": {"version": f"v{versions.index(record) + 1}"},
            "links": {
                "self": base,
                "html": f"{archive.base_url}/records/{record}",
                "latest": f"{base}/versions/latest",
            },
            "files": [
                {
                    "id": hashlib.sha1(name.encode()).hexdigest(),
                    "key": name,
                    "size": len(content),
                    "checksum": "md5:" + hashlib.md5(content).hexdigest(),
                    "links": {"self": f"{base}/files/{name}/content"},
                }
                for name, content in files.items()
            ],
        }
        return document

    def add_fermi_file(self, name: str, content: bytes) -> str:
        """Serve ``content`` as a Fermi-LAT FSSC 4LAC file; return the page URL."""
        self.fermi_files[name] = content
        return f"{self.base_url}/ssc/data/access/lat/4LACDR3/"

    # -- internals -------------------------------------------------------------
    def _next_fault(self, route: str) -> str | None:
        with self._lock:
            queue = self._faults.get(route)
            return queue.popleft() if queue else None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def run_sql(self, sql: str) -> pd.DataFrame:
        """Evaluate the subset of SQL/ADQL that the acquisition code sends."""
        flat = " ".join(sql.split())
        match = re.match(
            r"SELECT (?P<select>.+?) FROM (?P<first>\w+)(?: AS s JOIN (?P<second>\w+) AS t "
            r"ON t\.(?P<join>\w+) = s\.bestObjID)? WHERE (?P<where>.+?)(?: ORDER BY .*)?$",
            flat,
        )
        if not match:
            raise ValueError(f"fake archive cannot evaluate: {flat}")
        tables = {"SpecObj": self.specobj, "PhotoObj": self.photoobj, "TwoMass": self.twomass}
        spec = tables[match["first"]]
        lower = re.search(r"specObjID >= (\d+)", match["where"])
        upper = re.search(r"specObjID < (\d+)", match["where"])
        ids = spec["specObjID"].to_numpy()
        keep = np.ones(len(spec), dtype=bool)
        if lower:
            keep &= np.array([int(v) >= int(lower[1]) for v in ids], dtype=bool)
        if upper:
            keep &= np.array([int(v) < int(upper[1]) for v in ids], dtype=bool)
        selected = spec[keep].add_prefix("s.")
        if match["second"]:
            other = tables[match["second"]].add_prefix("t.")
            selected = selected.merge(other, left_on="s.bestObjID", right_on=f"t.{match['join']}")
        columns = [name.strip() for name in match["select"].split(",")]
        qualified = [name if "." in name else f"s.{name}" for name in columns]
        missing = [name for name in qualified if name not in selected.columns]
        if missing:
            raise KeyError(f"Invalid column name {missing}")
        result = selected[qualified]
        result.columns = [name.split(".", 1)[-1] for name in qualified]
        return result.reset_index(drop=True)

    def run_adql(self, adql: str, uploads: dict[str, Table]) -> Table:
        """Evaluate an upload cross-match against the AllWISE fixture, or a SpecObj query."""
        flat = " ".join(adql.split())
        if "TAP_UPLOAD." not in flat:
            frame = self.run_sql(flat)
            for column in frame.columns:
                if frame[column].dtype == np.uint64:
                    # VOTable has no unsigned long: a bigint column wraps above 2**63.
                    frame[column] = frame[column].to_numpy().view(np.int64)
            return Table.from_pandas(frame)
        match = re.match(
            r"SELECT (?P<select>.+?) FROM TAP_UPLOAD\.(?P<upload>\w+) AS u, (?P<table>\w+) AS w "
            r"WHERE CONTAINS\(POINT\('ICRS', w\.ra, w\.dec\), "
            r"CIRCLE\('ICRS', u\.ra, u\.dec, (?P<radius>[0-9.eE-]+)\)\) = 1$",
            flat,
        )
        if not match or match["table"] != "allwise_p3as_psd":
            raise ValueError(f"fake archive cannot evaluate: {flat}")
        positions = uploads[match["upload"].lower()]
        radius = float(match["radius"]) * u.deg
        sources = SkyCoord(
            np.asarray(positions["ra"]) * u.deg, np.asarray(positions["dec"]) * u.deg
        )
        catalogue = SkyCoord(
            self.allwise["ra"].to_numpy() * u.deg, self.allwise["dec"].to_numpy() * u.deg
        )
        source_rows, catalogue_rows, _, _ = search_around_sky(sources, catalogue, radius)
        order = np.lexsort((catalogue_rows, source_rows))
        source_rows, catalogue_rows = source_rows[order], catalogue_rows[order]
        columns = [name.strip() for name in match["select"].split(",")]
        result = Table()
        for name in columns:
            alias, column = name.split(".")
            if alias == "u":
                result[column] = np.asarray(positions[column])[source_rows]
            else:
                result[column] = self.allwise[column].to_numpy()[catalogue_rows]
        return result

    def create_job(self, parameters: dict[str, str], uploads: dict[str, Table], fault: str | None):
        job = FakeJob(f"job{next(self._job_ids)}", parameters, uploads, fault)
        with self._lock:
            self._jobs[job.job_id] = job
        return job

    def job(self, job_id: str) -> FakeJob:
        with self._lock:
            return self._jobs[job_id]

    def job_xml(self, job: FakeJob) -> bytes:
        results = ""
        if job.phase == "COMPLETED":
            href = f"{self.base_url}/tap/async/{job.job_id}/results/result"
            results = f'<uws:result id="result" xlink:href="{href}"/>'
        error = ""
        if job.phase == "ERROR":
            error = (
                '<uws:errorSummary type="fatal" hasDetail="false">'
                "<uws:message>ORA-01013: user requested cancel of current operation"
                "</uws:message></uws:errorSummary>"
            )
        parameters = "".join(
            f'<uws:parameter id="{escape(key.lower())}">{escape(value)}</uws:parameter>'
            for key, value in job.parameters.items()
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<uws:job xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" '
            'xmlns:xlink="http://www.w3.org/1999/xlink" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" version="1.1">'
            f"<uws:jobId>{job.job_id}</uws:jobId>"
            '<uws:ownerId xsi:nil="true"/>'
            f"<uws:phase>{job.phase}</uws:phase>"
            "<uws:quote>2024-01-02T00:00:00Z</uws:quote>"
            "<uws:creationTime>2024-01-01T00:00:00Z</uws:creationTime>"
            "<uws:startTime>2024-01-01T00:00:01Z</uws:startTime>"
            "<uws:endTime>2024-01-01T00:00:02Z</uws:endTime>"
            "<uws:executionDuration>3600</uws:executionDuration>"
            "<uws:destruction>2024-01-02T00:00:00Z</uws:destruction>"
            f"<uws:parameters>{parameters}</uws:parameters>"
            f"<uws:results>{results}</uws:results>{error}</uws:job>"
        ).encode()


def votable_bytes(table: Table, *, overflow: bool = False) -> bytes:
    """Serialise a result table as a TAP VOTable with its QUERY_STATUS."""
    document = votable.from_table(table)
    resource = document.resources[0]
    resource.type = "results"
    resource.infos.append(Info(name="QUERY_STATUS", value="OVERFLOW" if overflow else "OK"))
    buffer = io.BytesIO()
    document.to_xml(buffer)
    return buffer.getvalue()


HTML_ERROR_PAGE = (
    b"<!DOCTYPE html><html><head><title>SkyServer - Error</title></head>"
    b"<body><h1>Server Error in '/' Application.</h1><p>The service is temporarily "
    b"overloaded.</p></body></html>"
)


class _Handler(BaseHTTPRequestHandler):
    archive: FakeArchive
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # keep test output quiet
        pass

    # -- plumbing --------------------------------------------------------------
    def _route(self) -> tuple[str, re.Match | None]:
        path = urlsplit(self.path).path
        patterns = [
            ("skyserver", r"/dr\d+/en/tools/search/x_results\.aspx"),
            ("tap_sync", r"/tap/sync"),
            ("tap_create", r"/tap/async"),
            ("tap_phase", r"/tap/async/(?P<job>\w+)/phase"),
            ("tap_result", r"/tap/async/(?P<job>\w+)/results/result"),
            ("tap_job", r"/tap/async/(?P<job>\w+)"),
            ("vizier", r"/viz-bin/votable"),
            ("download", r"/records/(?P<record>\d+)/files/(?P<name>[^/]+)"),
            ("download", r"/api/records/(?P<record>\d+)/files/(?P<name>[^/]+)/content"),
            ("fermi", r"/ssc/data/access/lat/4LACDR3/(?P<name>[^/]+)"),
            ("zenodo_latest", r"/api/records/(?P<record>\d+)/versions/latest"),
            ("zenodo_api", r"/api/records/(?P<record>\d+)"),
            ("zenodo_search", r"/api/records/?"),
        ]
        for route, pattern in patterns:
            match = re.fullmatch(pattern, path)
            if match:
                return route, match
        return "unknown", None

    def _handle(self):
        route, match = self._route()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fault = self.archive._next_fault(route)
        parts = urlsplit(self.path)
        self.archive._record(
            RecordedRequest(
                route,
                self.command,
                parts.path,
                parse_qs(parts.query),
                dict(self.headers.items()),
                body,
                fault,
            )
        )
        self.close_connection = True
        try:
            if fault == "timeout":
                time.sleep(self.archive.slow_seconds)
            if fault == "503":
                return self._send(
                    503, b"<html><body>503 Service Unavailable</body></html>", "text/html"
                )
            if fault == "html":
                return self._send(200, HTML_ERROR_PAGE, "text/html; charset=utf-8")
            handler = getattr(self, f"_do_{route}", None)
            if handler is None:
                return self._send(404, b"not found", "text/plain")
            handler(match, body, fault)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the client gave up (e.g. after its own timeout)

    do_GET = do_POST = do_DELETE = _handle

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict | None = None,
        truncate: bool = False,
    ):
        if truncate:
            body = body[: len(body) // 2]
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _redirect(self, location: str):
        self.send_response(303)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()

    def _form(self, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("multipart/form-data"):
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
            )
            fields, files = {}, {}
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True)
                if part.get_filename() is not None:
                    files[name] = payload
                else:
                    fields[name] = payload.decode()
            return fields, files
        return {key: values[-1] for key, values in parse_qs(body.decode()).items()}, {}

    # -- SkyServer -------------------------------------------------------------
    def _do_skyserver(self, match, body, fault):
        time.sleep(self.archive.skyserver_delay_s)
        query = parse_qs(urlsplit(self.path).query)
        if query.get("format") != ["csv"] or "cmd" not in query:
            return self._send(400, b"bad request", "text/plain")
        try:
            frame = self.archive.run_sql(query["cmd"][0])
        except (KeyError, ValueError) as error:
            # As SkyServer: an SQL error to format=csv is HTTP 500 with a JSON body from its
            # exception filter (shared/ARCHIVE_FACTS.md; the body's keys are unverified).
            document = {"ErrorCode": 500, "Message": f"SQL error: {error}", "LogMessage": ""}
            return self._send(500, json.dumps(document).encode(), "application/json")
        text = "#Table1\n" + frame.to_csv(index=False, lineterminator="\n")
        self._send(200, text.encode(), "text/plain", truncate=fault == "truncated")

    # -- TAP -------------------------------------------------------------------
    def _do_tap_sync(self, match, body, fault):
        fields, files = self._form(body)
        table = self.archive.run_adql(fields["QUERY"], self._uploads(fields, files))
        self._send(
            200,
            votable_bytes(table, overflow=fault == "overflow"),
            "application/x-votable+xml",
            truncate=fault == "truncated",
        )

    def _uploads(self, fields, files) -> dict[str, Table]:
        uploads = {}
        for entry in filter(None, fields.get("UPLOAD", "").split(";")):
            name, reference = entry.split(",", 1)
            parsed = votable.parse_single_table(io.BytesIO(files[reference.split(":", 1)[1]]))
            uploads[name.lower()] = parsed.to_table()
        return uploads

    def _do_tap_create(self, match, body, fault):
        if self.command != "POST":
            return self._send(405, b"method not allowed", "text/plain")
        fields, files = self._form(body)
        job = self.archive.create_job(fields, self._uploads(fields, files), fault)
        self._redirect(f"{self.archive.base_url}/tap/async/{job.job_id}")

    def _do_tap_job(self, match, body, fault):
        job = self.archive.job(match["job"])
        if self.command == "DELETE":
            job.phase = "ARCHIVED"
            return self._redirect(f"{self.archive.base_url}/tap/async")
        if job.phase == "EXECUTING":
            job.polls_while_executing += 1
            if job.polls_while_executing > self.archive.polls_to_complete:
                if job.fault in ("job_error", "recorded_job_error"):
                    job.phase = "ERROR"
                elif job.fault != "job_stuck":
                    job.phase = "COMPLETED"
        if job.phase == "ERROR" and job.fault == "recorded_job_error":
            # pyvo's recorded UWS 1.1 job in phase ERROR, under this job's id.
            recorded = (RECORDED / "pyvo_uws_job-error.xml").read_bytes()
            return self._send(
                200, recorded.replace(b">1337<", f">{job.job_id}<".encode()), "text/xml"
            )
        self._send(200, self.archive.job_xml(job), "text/xml")

    def _do_tap_phase(self, match, body, fault):
        job = self.archive.job(match["job"])
        if self.command == "POST":
            requested = self._form(body)[0].get("PHASE", "")
            if requested == "RUN" and job.phase == "PENDING":
                job.phase = "EXECUTING"
            elif requested == "ABORT":
                job.phase = "ABORTED"
            return self._redirect(f"{self.archive.base_url}/tap/async/{job.job_id}")
        self._send(200, job.phase.encode(), "text/plain")

    def _do_tap_result(self, match, body, fault):
        job = self.archive.job(match["job"])
        if job.phase != "COMPLETED":
            return self._send(404, b"no result yet", "text/plain")
        table = self.archive.run_adql(job.parameters["QUERY"], job.uploads)
        maxrec = int(job.parameters.get("MAXREC") or 1_000_000)
        overflow = fault == "overflow" or len(table) > maxrec
        self._send(
            200,
            votable_bytes(table[:maxrec], overflow=overflow),
            "application/x-votable+xml",
            truncate=fault == "truncated",
        )

    # -- VizieR ----------------------------------------------------------------
    def _do_vizier(self, match, body, fault):
        script = body.decode()
        source = re.search(r"^-source=(\S+)$", script, re.MULTILINE)
        served = self.archive.vizier_tables.get(source[1]) if source else None
        fixture = VIZIER_FIXTURES.get(source[1]) if source else None
        if served is None and fixture is None:
            text = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<VOTABLE version="1.4" '
                'xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE>'
                '<INFO name="QUERY_STATUS" value="ERROR">No catalogue found</INFO>'
                "</RESOURCE></VOTABLE>\n"
            )
            return self._send(200, text.encode(), "text/xml")
        content = served if served is not None else (FIXTURES / fixture).read_bytes()
        if fault == "db_unreachable":  # VizieR's own answer, recorded by astroquery
            content = (RECORDED / "astroquery_vizier_no_server_error.xml").read_bytes()
        if fault == "overflow":
            content = content.replace(
                b"</RESOURCE>", b'<INFO name="QUERY_STATUS" value="OVERFLOW"/></RESOURCE>'
            )
        self._send(200, content, "text/xml;content=x-votable", truncate=fault == "truncated")

    # -- Zenodo ----------------------------------------------------------------
    def _do_download(self, match, body, fault):
        files = self.archive.files_of(int(match["record"])) or {}
        self._send_file(files.get(match["name"]), fault)

    def _do_fermi(self, match, body, fault):
        self._send_file(self.archive.fermi_files.get(match["name"]), fault)

    def _send_file(self, content: bytes | None, fault: str | None):
        """A file with HTTP Range support; ``cut`` drops the connection half-way."""
        if content is None:
            return self._send(404, b"file not found", "text/plain")
        total = len(content)
        requested = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        start = int(requested[1]) if requested and fault != "ignore_range" else 0
        if start >= total and requested:
            return self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{total}"})
        payload = content[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Connection", "close")
        if start:
            self.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
        self.end_headers()
        if fault == "cut":
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)  # drop the connection mid-body
            return
        self.wfile.write(payload)

    def _do_zenodo_latest(self, match, body, fault):
        latest = self.archive.latest_id or self.archive.record_id
        self._redirect(f"{self.archive.base_url}/api/records/{latest}")

    def _do_zenodo_api(self, match, body, fault):
        # As Zenodo: a concept id is not a record of the record API, which answers 404
        # (shared/ARCHIVE_FACTS.md); only its versions are.
        document = self.archive.zenodo_document(int(match["record"]))
        if document is None:
            return self._send(404, b'{"status": 404, "message": "not found"}', "application/json")
        self._send(200, json.dumps(document).encode(), "application/json")

    def _do_zenodo_search(self, match, body, fault):
        # /api/records?q=conceptrecid:<id>&all_versions=true: every version of the concept.
        query = parse_qs(urlsplit(self.path).query)
        term = re.fullmatch(r"conceptrecid:(\d+)", (query.get("q") or [""])[0])
        archive = self.archive
        versions = sorted({archive.record_id, *archive.record_files})
        if term is None or int(term.group(1)) != archive.concept_id:
            versions = []
        elif (query.get("all_versions") or ["false"])[0] != "true":
            versions = [archive.latest_id or archive.record_id]
        hits = [archive.zenodo_document(record) for record in versions]
        found = {"hits": {"hits": hits, "total": len(hits)}}
        self._send(200, json.dumps(found).encode(), "application/json")


# -- pytest fixtures ----------------------------------------------------------
@pytest.fixture
def fake_archive(_no_proxy_for_loopback):
    """A plain-HTTP fake archive (SkyServer, TAP, Zenodo)."""
    archive = FakeArchive(slow_seconds=1.2).start()
    yield archive
    archive.stop()


@pytest.fixture
def fake_vizier(monkeypatch, _no_proxy_for_loopback):
    """An HTTPS fake archive for VizieR, whose URLs astroquery always builds as https."""
    archive = FakeArchive(use_tls=True, slow_seconds=1.2).start()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(TLS_CERT))
    yield archive
    archive.stop()


@pytest.fixture
def _no_proxy_for_loopback(monkeypatch):
    # A proxy configured in the environment must not intercept loopback traffic.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def specobj_fixture() -> pd.DataFrame:
    """The SpecObj rows the fake SkyServer serves (8 real DR14 spectra)."""
    return read_skyserver_fixture("skyserver_specobj.csv")


@pytest.fixture
def fast_network() -> NetworkSettings:
    """Short timeouts and backoff so fault tests take well under a second each."""
    return NetworkSettings(
        probe_timeout_s=2.0,
        connect_timeout_s=1.0,
        read_timeout_s=0.8,
        retries=2,
        backoff_initial_s=0.01,
        backoff_max_s=0.02,
        backoff_jitter=0.0,
        tap_poll_initial_s=0.01,
        tap_poll_max_s=0.02,
        tap_job_timeout_s=2.0,
    )
