"""Per-source round trips and bytes (plancheck.facts.meter): counted in the thread that reads a
source, carried into pool workers, recorded in the store's timings; requests sessions, SQL and Redis
clients counted by wrapping their calls; static sources count the files they read. Network: only
loopback listeners started here."""
from __future__ import annotations

import http.server
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from plancheck.facts import meter
from plancheck.facts.base import SOURCES, Context, Facts, FactSource, FactStore
from plancheck.profile import load_profile
from tests.audit import ROOT

PROFILE = load_profile("prod", ROOT / "profiles")


def test_count_goes_to_the_current_meter_only() -> None:
    meter.count(5, 500)  # outside any source: dropped
    outer, inner = meter.Meter(), meter.Meter()
    with meter.metering(outer):
        meter.count(1, 10)
        with meter.metering(inner):  # a source read by another in the same thread
            meter.count(2, 20)
        meter.count(1, 5)
    assert (outer.round_trips, outer.bytes) == (2, 15)
    assert (inner.round_trips, inner.bytes) == (2, 20)
    assert meter.current() is None


def test_bind_carries_the_meter_into_pool_workers() -> None:
    m = meter.Meter()
    with meter.metering(m), ThreadPoolExecutor(max_workers=4) as pool:
        plain = pool.submit(meter.count, 1, 1)
        bound = [pool.submit(meter.bind(meter.count), 1, 100) for _ in range(8)]
        plain.result()
        for f in bound:
            f.result()
    assert (m.round_trips, m.bytes) == (8, 800)  # the unbound call counted nowhere


def test_bound_pool_counts_nested_submissions_into_the_submitters_meter() -> None:
    """The TLS source fans out: a version probe submitted from a pool worker submits its handshakes
    to the same pool; every one of them is still the source's round trip."""
    m = meter.Meter()

    def fan_out(pool: meter.BoundPool) -> None:
        meter.count(1, 0)
        for f in [pool.submit(meter.count, 1, 10) for _ in range(3)]:
            f.result()

    with meter.metering(m), meter.BoundPool(max_workers=4) as pool:
        for f in [pool.submit(fan_out, pool) for _ in range(2)]:
            f.result()
    assert (m.round_trips, m.bytes) == (8, 60)


def test_host_commands_count_one_round_trip_and_their_output() -> None:
    class Result:
        stdout_bytes = b"model name : x\n"

    class Host:
        def run(self, command: str) -> Result:
            return Result()

    m = meter.Meter()
    host = meter.count_host(Host())
    with meter.metering(m):
        host.run("cat /proc/cpuinfo")
        host.run("lsblk")
    assert (m.round_trips, m.bytes) == (2, 2 * len(Result.stdout_bytes))


class Counted(Facts):
    value: int = 0


class _Reads(FactSource):
    name = "fk_meter"
    model = Counted

    def static(self, ctx: Context) -> Counted:
        ctx.read_text("profiles/prod.yaml")
        with ThreadPoolExecutor(max_workers=2) as pool:
            pool.submit(meter.bind(meter.count), 3, 30).result()
        return Counted(source="fake", value=1)


@pytest.fixture
def fake_source() -> Iterator[None]:
    SOURCES["fk_meter"] = _Reads()
    try:
        yield
    finally:
        SOURCES.pop("fk_meter", None)


def test_store_records_round_trips_and_bytes(fake_source: None) -> None:
    store = FactStore(Context(profile=PROFILE, root=ROOT, mode="static"))
    store.get("fk_meter")
    rec = store.timings["fk_meter"]
    size = (ROOT / "profiles" / "prod.yaml").stat().st_size
    assert rec["round_trips"] == 1 + 3
    assert rec["bytes"] == size + 30


def test_static_sources_count_the_files_they_read() -> None:
    store = FactStore(Context(profile=PROFILE, root=ROOT, mode="static"))
    store.get("redis")
    files = PROFILE.target.config_files["redis"]
    rec = store.timings["redis"]
    assert rec["round_trips"] == len(files)
    assert rec["bytes"] == sum((ROOT / f).stat().st_size for f in files)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = b"x" * (100 if self.path == "/small" else 5000)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def loopback_http() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_requests_session_counts_responses_and_body_bytes(loopback_http: str) -> None:
    m = meter.Meter()
    s = meter.count_session(requests.Session())
    meter.count_session(s)  # installing twice counts once
    s.trust_env = False
    with meter.metering(m):
        assert len(s.get(loopback_http + "/small", timeout=5).content) == 100
        assert len(s.get(loopback_http + "/big", timeout=5).content) == 5000
        with s.get(loopback_http + "/big", timeout=5, stream=True) as r:  # streamed: Content-Length
            r.raw.read()
    s.get(loopback_http + "/small", timeout=5)  # outside a source: not counted
    assert (m.round_trips, m.bytes) == (3, 10100)


class _FakeConn:
    """The two PyMySQL Connection methods the meter wraps: query (one per statement) and the
    packet reader (_read_bytes)."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def query(self, sql: str) -> int:
        self.queries.append(sql)
        self._read_bytes(40)
        return 1

    def _read_bytes(self, n: int) -> bytes:
        return b"r" * n


class _FakeRedis:
    def execute_command(self, *args: Any) -> Any:
        return b"OK"

    def ping(self) -> Any:
        return self.execute_command("PING")


def test_sql_and_redis_clients_count_each_call() -> None:
    m = meter.Meter()
    with meter.metering(m):
        conn = meter.count_pymysql(_FakeConn())  # the connect: one round trip
        conn.query("SHOW GLOBAL VARIABLES")
        conn.query("SELECT 1")
        r = meter.count_redis(_FakeRedis())
        r.ping()
        r.execute_command("CONFIG", "GET", "*")
        meter.count_redis(r)  # wrapping twice counts once
        r.ping()
    assert m.round_trips == 1 + 2 + 3
    assert m.bytes == 80
    assert conn.queries == ["SHOW GLOBAL VARIABLES", "SELECT 1"]


def test_html_timeline_shows_round_trips_and_bytes() -> None:
    from plancheck.report.html import _sources
    from plancheck.report.i18n import LABELS

    doc = {"sources": {"mariadb": {"wall_s": 0.2, "start_s": 0.0, "end_s": 0.2, "outcome": "ok",
                                   "round_trips": 7, "bytes": 3 * 1024 * 1024, "message": ""}}}
    out = _sources(doc, LABELS["en"])
    assert "<td class=\"n\">7</td>" in out and "3.0 MB" in out and "round trips" in out
    assert "deliberate waits" not in out
    doc["sources"]["mariadb"]["waited_s"] = 1.5
    assert "(1.5)</span>" in _sources(doc, LABELS["en"]) and "deliberate waits" in _sources(doc, LABELS["en"])


def test_results_schema_accepts_counted_sources(tmp_path: Path) -> None:
    import json

    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "docs" / "results.schema.json").read_text())
    src = {"wall_s": 0.1, "start_s": 0.0, "end_s": 0.1, "outcome": "ok", "round_trips": 4, "bytes": 123,
           "waited_s": 0.0, "message": ""}
    jsonschema.validate(src, {**schema["$defs"]["source"], "$defs": schema["$defs"]})


def test_scanner_connects_count_as_round_trips() -> None:
    import socket

    from plancheck.scan import run_scanner

    srv, closed = socket.socket(), socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    closed.bind(("127.0.0.1", 0))
    targets = ",".join(f"127.0.0.1:{s.getsockname()[1]}" for s in (srv, closed))
    m = meter.Meter()
    try:
        with meter.metering(m):
            data = run_scanner([], ["--targets", targets, "--timeout", "1"], timeout=60)
    finally:
        srv.close()
        closed.close()
    assert data["scanned"] == 2 and (m.round_trips, m.bytes) == (2, 0)


def test_a_deliberate_wait_is_counted_apart_from_work() -> None:
    slept: list[float] = []
    m = meter.Meter()
    with meter.metering(m):
        meter.sleep(0.25, slept.append)
        meter.sleep(0.5, slept.append)
    meter.sleep(9.0, slept.append)  # outside any source: slept, counted nowhere
    assert slept == [0.25, 0.5, 9.0] and m.waited_s == 0.75 and m.round_trips == 0
