#!/usr/bin/env python3
"""Stand-in for the plan's application services (NOT the real applications).

One small aiohttp program plays api-server, chat-server, auth-server and, under
the gpu profile, llm-server, vector-db and training-server, so the baseline has
something real to route to, scrape and audit:

* HTTPS on $PLANCHECK_PORT (8443), TLS 1.3 only, client certificate REQUIRED
  (verified against the platform CA): every peer is authenticated (mTLS).
* GET /health   -> 200 {"status": "ok", ...}
* GET /metrics  -> Prometheus metrics: http_request_duration_seconds
  (histogram), http_requests_total, http_request_errors_total (counters),
  app_concurrent_users (gauge).
* GET /ws       -> WebSocket echo (only when PLANCHECK_WEBSOCKET=1: chat-server)
* POST /login   -> fake login that writes an audit-class log record
* GET /api/openapi.json -> the API's routes (OpenAPI paths), for the RBAC audit (AC-004)
* anything else -> 200 JSON describing the request (404 for /error/404 ...,
  /error/<code> returns that status, to exercise the error-rate metric)

Logs go to stdout and, when PLANCHECK_LOG_COLLECTOR=host:port is set, to the
log collector as RFC 5424 over mutual TLS 1.3 (facility local0 = realtime,
local1 = important, local2 = audit), best effort and never blocking.
"""
import asyncio
import datetime
import json
import logging
import os
import queue
import socket
import ssl
import threading
import time

from aiohttp import WSMsgType, web
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter,
                               Gauge, Histogram, PlatformCollector,
                               ProcessCollector, generate_latest)

SERVICE = os.environ.get("PLANCHECK_SERVICE") or socket.gethostname()
PORT = int(os.environ.get("PLANCHECK_PORT", "8443"))
TLS_DIR = os.environ.get("PLANCHECK_TLS_DIR", "/etc/plancheck/tls")
CERT = os.path.join(TLS_DIR, "tls.crt")
KEY = os.path.join(TLS_DIR, "tls.key")
CA = os.path.join(TLS_DIR, "ca.crt")
WEBSOCKET = os.environ.get("PLANCHECK_WEBSOCKET", "0") == "1"
LOG_COLLECTOR = os.environ.get("PLANCHECK_LOG_COLLECTOR", "")
# alert sink mode: Alertmanager's webhook receiver (POST /alerts); GET /alerts lists what arrived
ALERT_SINK = os.environ.get("PLANCHECK_ALERT_SINK", "0") == "1"
ALERTS_KEPT = 200
STARTED = time.time()

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
LABELS = ["service", "method", "route", "status"]
REQUEST_DURATION = Histogram(
    "http_request_duration_seconds", "HTTP request latency in seconds",
    LABELS, registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
REQUESTS = Counter("http_requests_total", "HTTP requests served",
                   LABELS, registry=REGISTRY)
ERRORS = Counter("http_request_errors_total",
                 "HTTP requests answered with a 5xx status or failed",
                 LABELS, registry=REGISTRY)
CONCURRENT = Gauge("app_concurrent_users",
                   "Users currently connected (open WebSockets + in-flight requests)",
                   ["service"], registry=REGISTRY)
CONCURRENT.labels(SERVICE).set(0)
# A counter with labels has no sample until its first increment: the error rate must be visible
# (at 0) from the start, or "error rate collected" cannot be told apart from "never scraped".
ERRORS.labels(SERVICE, "GET", "/", "500")

# --------------------------------------------------------------- logging
REALTIME, IMPORTANT, AUDIT = 16, 17, 18  # syslog facilities local0..local2


class TlsSyslogHandler(logging.Handler):
    """Ship records to rsyslog over TLS 1.3 (RFC 5425 octet counting).

    A daemon thread owns the connection; emit() only enqueues (drops when the
    queue is full) so the event loop never blocks on the collector."""

    def __init__(self, target: str):
        super().__init__()
        host, _, port = target.rpartition(":")
        self.addr = (host, int(port))
        self.q: "queue.Queue[bytes]" = queue.Queue(maxsize=2000)
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=CA)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_cert_chain(CERT, KEY)
        self.ctx = ctx
        threading.Thread(target=self._run, name="syslog-tls", daemon=True).start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fac = getattr(record, "facility", REALTIME)
            sev = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4,
                   logging.ERROR: 3, logging.CRITICAL: 2}.get(record.levelno, 6)
            ts = datetime.datetime.fromtimestamp(
                record.created, datetime.timezone.utc).isoformat(timespec="milliseconds")
            msg = f"<{fac * 8 + sev}>1 {ts} {SERVICE} {SERVICE} {os.getpid()} - - {record.getMessage()}"
            data = msg.encode("utf-8", "replace")
            self.q.put_nowait(str(len(data)).encode() + b" " + data)
        except queue.Full:
            pass
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)

    def _run(self) -> None:
        sock = None
        backoff = 1.0
        while True:
            item = self.q.get()
            while True:
                try:
                    if sock is None:
                        raw = socket.create_connection(self.addr, timeout=5)
                        sock = self.ctx.wrap_socket(raw, server_hostname=self.addr[0])
                        backoff = 1.0
                    sock.sendall(item)
                    break
                except OSError:
                    try:
                        if sock is not None:
                            sock.close()
                    except OSError:
                        pass
                    sock = None
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)


log = logging.getLogger("standin")
log.setLevel(logging.INFO)
_stdout = logging.StreamHandler()
_stdout.setFormatter(logging.Formatter("%(asctime)s %(levelname)s " + SERVICE + " %(message)s"))
log.addHandler(_stdout)
if LOG_COLLECTOR:
    try:
        log.addHandler(TlsSyslogHandler(LOG_COLLECTOR))
    except Exception as exc:  # collector config problems must not stop the app
        log.warning("log collector disabled: %s", exc)


def peer_cn(request: web.Request) -> str:
    cert = request.transport.get_extra_info("peercert") if request.transport else None
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return "-"


# --------------------------------------------------------------- handlers
@web.middleware
async def metrics_middleware(request: web.Request, handler):
    start = time.perf_counter()
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    status = 500
    gauge = CONCURRENT.labels(SERVICE)
    gauge.inc()
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        gauge.dec()
        labels = (SERVICE, request.method, route, str(status))
        if route != "/metrics":
            REQUEST_DURATION.labels(*labels).observe(time.perf_counter() - start)
        REQUESTS.labels(*labels).inc()
        if status >= 500:
            ERRORS.labels(*labels).inc()
        if route not in ("/health", "/metrics"):
            log.info("%s %s %s %s peer=%s", request.remote, request.method,
                     request.path, status, peer_cn(request),
                     extra={"facility": REALTIME})


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "service": SERVICE,
                              "uptime_seconds": round(time.time() - STARTED, 1)})


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    gauge = CONCURRENT.labels(SERVICE)
    gauge.inc()
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
            elif msg.type == WSMsgType.ERROR:
                break
    finally:
        gauge.dec()
    return ws


async def login(request: web.Request) -> web.Response:
    user = request.query.get("user", "anonymous")
    log.info("login user=%s peer=%s result=accepted (stand-in)", user, peer_cn(request),
             extra={"facility": AUDIT})
    return web.json_response({"service": SERVICE, "user": user, "result": "accepted"})


# The API's routes as the gateway serves them, published like a real API's OpenAPI document
# (GET /api/openapi.json): plancheck's AC-004 checks each is a row of the profile's RBAC matrix.
# Who may call them is decided in front, by the identity provider's per-URL rules (4.2).
API_ROUTES = {
    "/api/openapi.json": ["get"],
    "/api/v1/models": ["get"],
    "/api/v1/chat/completions": ["post"],
    "/api/admin/usage": ["get"],
}


async def openapi(request: web.Request) -> web.Response:
    return web.json_response({
        "openapi": "3.0.3",
        "info": {"title": f"{SERVICE} (plancheck stand-in)", "version": "0"},
        "paths": {p: {m: {"responses": {"200": {"description": "ok"}}} for m in ms}
                  for p, ms in API_ROUTES.items()}})


async def echo(request: web.Request) -> web.Response:
    path = request.match_info.get("tail", "")
    if path.startswith("error/"):
        try:
            code = int(path.split("/", 1)[1])
        except ValueError:
            code = 500
        return web.json_response({"service": SERVICE, "error": code}, status=code)
    return web.json_response({
        "service": SERVICE, "method": request.method, "path": request.path,
        "client_cn": peer_cn(request),
        "note": "plancheck stand-in, not the real application"})


RECEIVED: "list[dict]" = []


async def alert_received(request: web.Request) -> web.Response:
    """One webhook notification from Alertmanager (its JSON body, version 4): kept in memory, newest
    last, and logged, so that a test alert can be seen delivered end to end."""
    try:
        body = await request.json()
    except ValueError:
        return web.json_response({"error": "not JSON"}, status=400)
    if not isinstance(body, dict) or not isinstance(body.get("alerts"), list):
        return web.json_response({"error": "not an Alertmanager webhook body"}, status=400)
    entry = {"received_at": time.time(), "client_cn": peer_cn(request), "receiver": body.get("receiver"),
             "status": body.get("status"),
             "alerts": [{"status": a.get("status"), "labels": a.get("labels", {})}
                        for a in body["alerts"] if isinstance(a, dict)]}
    RECEIVED.append(entry)
    del RECEIVED[:-ALERTS_KEPT]
    log.info("alert notification from %s: %s", entry["client_cn"],
             ", ".join(f"{a['labels'].get('alertname', '?')}={a['status']}" for a in entry["alerts"]))
    return web.json_response({"received": len(entry["alerts"])})


async def alerts_list(request: web.Request) -> web.Response:
    return web.json_response({"service": SERVICE, "notifications": RECEIVED})


def ssl_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(CERT, KEY)
    ctx.load_verify_locations(cafile=CA)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def make_app() -> web.Application:
    app = web.Application(middlewares=[metrics_middleware])
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    if WEBSOCKET:
        app.router.add_get("/ws", websocket)
    app.router.add_post("/login", login)
    app.router.add_post("/auth/login", login)   # as routed by the gateway
    app.router.add_get("/api/openapi.json", openapi)
    if ALERT_SINK:
        app.router.add_post("/alerts", alert_received)
        app.router.add_get("/alerts", alerts_list)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


def main() -> None:
    log.info("starting %s on :%d (TLS 1.3, client certificates required, websocket=%s)",
             SERVICE, PORT, WEBSOCKET, extra={"facility": IMPORTANT})
    web.run_app(make_app(), host="0.0.0.0", port=PORT, ssl_context=ssl_context(),
                access_log=None, print=None, handle_signals=True)
    log.info("stopped %s", SERVICE, extra={"facility": IMPORTANT})


if __name__ == "__main__":
    main()
