"""4.1 TLS and mTLS facts, proven by real handshakes (live only: no desired state holds them).

`tls`: per endpoint of `security.tls.endpoints`, one run of everything at once:
- accepted protocol versions and cipher suites: one sslyze scan per direct-TLS endpoint (HTTPS,
  Redis, syslog-TLS), all queued on one sslyze Scanner so they run concurrently; MariaDB speaks
  TLS only after MySQL's SSLRequest, which sslyze cannot send, so each version (SSL 2.0 .. TLS 1.3)
  and each TLS 1.3 suite is tried there with nassl (sslyze's own OpenSSL builds) after the request;
- the certificate: one handshake with the audit's client certificate, verified against the
  platform CA (python ssl, i.e. OpenSSL's own chain validation), parsed with cryptography;
- the client library's TLS session for MariaDB (pymysql) and Redis (redis-py): negotiated version
  and cipher of an authenticated session;
- on HTTPS fronts: the Strict-Transport-Security header of a real answer, the plaintext HTTP port
  (closed or redirecting) and a WebSocket upgrade (wss://) with an echoed frame.

`mtls`: per endpoint that requires client certificates, four separate clients: none, one from a
foreign CA, an expired one from the platform CA, the audit's valid one. The throwaway certificates
are minted in a private temp dir for the run (trustme, cryptography) and never written anywhere else.
Each server's way of refusing is interpreted: a TLS alert (python, Go, Redis, rsyslog), nginx's
HTTP 400 "No required SSL certificate was sent", MariaDB's 1045 (account REQUIRE X509) or a lost
connection with the alert, Redis's CERTIFICATE_REQUIRED on the first command.

This module holds the `tls` source itself; the rest lives beside it, and every public name is
re-exported here (`from plancheck.facts.tls import ...` keeps working):
- `tls_models`: the facts' models, VERSIONS/TLS13_SUITES/CASES, `endpoint_facts`;
- `tls_wire`: dialing, the client SSL context, MySQL's SSLRequest, HTTP heads, certificate parsing;
- `tls_versions`: accepted versions and cipher suites (nassl, sslyze);
- `tls_probes`: the audit client's own handshake, HSTS, plaintext HTTP, wss:// and library sessions;
- `tls_mtls`: the `mtls` source (imported after `TlsSource` is registered: `tls` gathers first).
"""
from __future__ import annotations

import time
from typing import Any, Optional

from plancheck.facts import meter
from plancheck.facts.base import Context, FactError, FactSource, register
from plancheck.facts.endpoints import tls_files
from plancheck.facts.tls_models import (CASES, TLS13_SUITES, VERSIONS, Certificate, MtlsCase, MtlsEndpointFacts,
                                        MtlsFacts, Probe, TlsEndpointFacts, TlsFacts, endpoint_facts)
from plancheck.facts.tls_probes import (_http_plain_probe, _mysql_session, _redis_session, _session_probe,
                                        websocket_probe)
from plancheck.facts.tls_versions import (Inconclusive, _sslyze_scan, _tls13_suites, _versions,
                                          classify_handshake_failure)
from plancheck.facts.tls_wire import _line, _where, mysql_ssl_request, parse_certificate, parse_http_head
from plancheck.profile.models import Endpoint


@register
class TlsSource(FactSource):
    live_cost = 1  # a handshake per protocol version and suite of each endpoint
    name = "tls"
    model = TlsFacts

    def live(self, ctx: Context) -> TlsFacts:
        t0 = time.monotonic()
        files = tls_files(ctx)
        specs = ctx.profile.security.tls.endpoints
        out: dict[str, TlsEndpointFacts] = {}
        where: dict[str, tuple[Endpoint, str, str]] = {}
        for name, spec in specs.items():
            why = ctx.profile.cannot_run(ctx.profile.endpoint_container(name))
            if why:  # its checks are skipped with this reason (fixtures/network.py); never probed
                out[name] = TlsEndpointFacts(address=spec.endpoint, protocol=spec.protocol, error=f"not probed: {why}")
                continue
            try:
                where[name] = _where(ctx, name, spec)
            except FactError as e:
                out[name] = TlsEndpointFacts(address=spec.endpoint, protocol=spec.protocol, error=str(e))
                continue
            ep, host, _ = where[name]
            out[name] = TlsEndpointFacts(address=f"{host}:{ep.port}", protocol=spec.protocol)
        with meter.BoundPool(max_workers=24) as pool:
            jobs: list[tuple[str, str, Any]] = []
            for name, (ep, host, sni) in where.items():
                spec, facts = specs[name], out[name]
                wire = "mysql" if spec.protocol == "mysql" else "tls"
                jobs.append((name, "versions", pool.submit(_versions, pool, host, ep.port, ctx.timeout, wire, files)))
                jobs.append((name, "handshake", pool.submit(_session_probe, name, spec, host, ep.port, sni, files,
                                                            ctx.timeout, facts)))
                if spec.protocol == "mysql":
                    jobs.append((name, "session", pool.submit(_mysql_session, ctx, ep, host, files)))
                if spec.protocol == "redis":
                    jobs.append((name, "session", pool.submit(_redis_session, ctx, ep, host, files)))
                if spec.http_port:
                    jobs.append((name, "http", pool.submit(_http_plain_probe, host, spec.http_port, ctx.timeout)))
                if spec.websocket:
                    jobs.append((name, "ws", pool.submit(websocket_probe, host, ep.port, sni, spec.websocket,
                                                         files[0], ctx.timeout)))
            negotiated: dict[str, dict[str, Optional[str]]] = {}
            for name, kind, fut in jobs:  # versions first (submitted first): sslyze needs them
                if kind != "versions":
                    continue
                try:
                    negotiated[name] = fut.result()
                    out[name].versions = {v: c is not None for v, c in negotiated[name].items()}
                except Inconclusive as e:
                    out[name].error = f"{name} at {out[name].address}: a version probe was inconclusive: {e}"
                except Exception as e:
                    out[name].error = f"{name} at {out[name].address}: {_line(e)}"
            # the cipher suites of every accepted version: sslyze where it speaks the protocol
            direct = {n: (h, ep.port, sni, [v for v, ok in out[n].versions.items() if ok])
                      for n, (ep, h, sni) in where.items() if specs[n].protocol != "mysql" and n in negotiated}
            enumerate_13 = {n: pool.submit(_tls13_suites, pool, where[n][1], where[n][0].port, ctx.timeout, "mysql",
                                           files)
                            for n in where if specs[n].protocol == "mysql" and out[n].versions.get("TLSv1.3")}
            try:
                scanned = _sslyze_scan(direct, files, ctx.timeout)
            except Exception as e:
                scanned = {n: ({}, [], f"sslyze failed: {_line(e)}") for n in direct}
            for name in direct:
                versions, suites, err = scanned.get(name, ({}, [], ""))
                if versions and not err:
                    out[name].method = "nassl: one handshake per version; sslyze: cipher suites of accepted versions"
                    out[name].cipher_suites = suites
                    continue
                # sslyze could not speak to it (or nothing accepted): nassl enumerates TLS 1.3 itself
                out[name].method = "nassl: one handshake per version and TLS 1.3 suite" + (
                    f" (sslyze: {err})" if err else "")
                enumerate_13[name] = pool.submit(_tls13_suites, pool, where[name][1], where[name][0].port,
                                                 ctx.timeout, "tls", files) if out[name].versions.get("TLSv1.3") \
                    else None
            for name, fut13 in enumerate_13.items():
                if specs[name].protocol == "mysql":
                    out[name].method = "MySQL SSLRequest, then nassl: one handshake per version and TLS 1.3 suite"
                older = [c for v, c in negotiated.get(name, {}).items() if c and v != "TLSv1.3"]
                try:
                    out[name].cipher_suites = older + (fut13.result() if fut13 else [])
                except Exception as e:
                    out[name].error = out[name].error or f"{name} at {out[name].address}: {_line(e)}"
            for name, kind, fut in jobs:
                facts = out[name]
                if kind == "versions":
                    continue
                try:
                    value = fut.result()
                except Exception as e:
                    if kind == "handshake" and not facts.error:
                        facts.error = f"{name} at {facts.address}: {_line(e)}"
                    continue
                if kind == "session":
                    facts.session, facts.session_version, facts.session_cipher = value
                elif kind == "http":
                    facts.http_plain = value
                elif kind == "ws":
                    facts.websocket = value
        return TlsFacts(source="live handshakes (nassl, sslyze, python ssl)", endpoints=out,
                        duration_s=round(time.monotonic() - t0, 3))


# after TlsSource: importing tls_mtls registers MtlsSource, and SOURCES keeps the order tls, mtls
from plancheck.facts.tls_mtls import (MtlsSource, classify_exception, classify_http, mint_expired,  # noqa: E402
                                      mint_foreign)

__all__ = [
    "CASES", "TLS13_SUITES", "VERSIONS", "Certificate", "Inconclusive", "MtlsCase", "MtlsEndpointFacts", "MtlsFacts",
    "MtlsSource", "Probe", "TlsEndpointFacts", "TlsFacts", "TlsSource", "classify_exception",
    "classify_handshake_failure", "classify_http", "endpoint_facts", "mint_expired", "mint_foreign",
    "mysql_ssl_request", "parse_certificate", "parse_http_head", "websocket_probe",
]
