"""The `mtls` fact source: per endpoint that requires client certificates, four separate clients
(none, one from a foreign CA, an expired one from the platform CA, the audit's valid one), each
server's way of refusing interpreted as "refused", "accepted" or "error" (no verdict).

The throwaway certificates are minted in a private temp dir for the run (trustme, cryptography) and
never written anywhere else. Split out of `plancheck.facts.tls`, which still re-exports the public
names and imports this module only after registering its own source, so that SOURCES (the gathering
order) keeps `tls` before `mtls`.
"""
from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Literal, Optional

from plancheck.facts import meter
from plancheck.facts.base import Context, FactError, FactSource, Unavailable, register
from plancheck.facts.endpoints import secret, tls_files
from plancheck.facts.tls_models import CASES, MtlsCase, MtlsEndpointFacts, MtlsFacts
from plancheck.facts.tls_wire import (_client_context, _dial, _line, _read_http_head, _where, parse_http_head,
                                      redis_tls_client)
from plancheck.profile.models import Endpoint


# --- mtls source ----------------------------------------------------------------------------------
def mint_expired(ca_crt: str, ca_key: str, cn: str, directory: Path) -> tuple[str, str]:
    """A client certificate from the platform CA that expired yesterday (throwaway, temp dir only)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca = x509.load_pem_x509_certificate(Path(ca_crt).read_bytes())
    signer = serialization.load_pem_private_key(Path(ca_key).read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "plancheck throwaway"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=30)).not_valid_after(now - dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),  # type: ignore[arg-type]
                           critical=False)
            .sign(signer, hashes.SHA256()))  # type: ignore[arg-type]
    crt, k = directory / "expired.crt", directory / "expired.key"
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(crt), str(k)


def mint_foreign(cn: str, directory: Path) -> tuple[str, str]:
    """A client certificate from a CA the platform has never seen (trustme)."""
    import trustme

    leaf = trustme.CA().issue_cert(cn)
    crt, k = directory / "foreign.crt", directory / "foreign.key"
    leaf.cert_chain_pems[0].write_to_path(str(crt))
    leaf.private_key_pem.write_to_path(str(k))
    return str(crt), str(k)


_REFUSAL_MARKS = ("alert", "certificate", "handshake", "unexpected eof", "eof occurred", "reset by peer",
                  "connection closed", "broken pipe", "wrong version number")


def classify_exception(e: BaseException, connected: bool) -> MtlsCase:
    """A failure after the TCP connect is the server's refusal; before it, no verdict."""
    text = _line(e)
    if not connected or isinstance(e, (socket.timeout, TimeoutError)):
        return MtlsCase(outcome="error", detail=text)
    if isinstance(e, (ssl.SSLError, ConnectionResetError, BrokenPipeError, ConnectionError, EOFError)) or \
            any(m in text.lower() for m in _REFUSAL_MARKS):
        return MtlsCase(outcome="refused", detail=text)
    return MtlsCase(outcome="error", detail=text)


def classify_http(status: int, body: bytes) -> MtlsCase:
    text = body.decode(errors="replace")
    if status == 400 and ("No required SSL certificate was sent" in text or "SSL certificate error" in text):
        reason = "No required SSL certificate was sent" if "No required" in text else "The SSL certificate error"
        return MtlsCase(outcome="refused", detail=f"nginx HTTP 400 \"{reason}\"")
    if status in (495, 496):
        return MtlsCase(outcome="refused", detail=f"HTTP {status} (client certificate refused)")
    if status == 0:
        return MtlsCase(outcome="refused", detail="connection closed without an HTTP answer")
    return MtlsCase(outcome="accepted", detail=f"TLS session established; HTTP {status}")


def _try_https(host: str, port: int, sni: str, path: str, ca: str, cert: Optional[str], key: Optional[str],
               timeout: float) -> MtlsCase:
    connected = False
    try:
        sock = _dial(host, port, timeout)
        connected = True
        with _client_context(ca, cert, key).wrap_socket(sock, server_hostname=sni) as tls:
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n".encode())
            data = _read_http_head(tls)
            status, headers, body = parse_http_head(data)
            want = int(headers.get("content-length", "0") or 0)
            while status and len(body) < min(want, 4096):
                chunk = tls.recv(4096)
                if not chunk:
                    break
                body += chunk
            return classify_http(status, body)
    except Exception as e:
        return classify_exception(e, connected)


def _try_tls(host: str, port: int, sni: str, ca: str, cert: Optional[str], key: Optional[str],
             timeout: float) -> MtlsCase:
    """Protocols where the client speaks first and the server never answers (syslog): after the
    handshake the server either sends its alert/close at once or keeps the session open."""
    connected = False
    try:
        sock = _dial(host, port, timeout)
        connected = True
        with _client_context(ca, cert, key).wrap_socket(sock, server_hostname=sni) as tls:
            tls.settimeout(min(1.0, timeout))
            try:
                data = tls.recv(1)
            except (socket.timeout, TimeoutError):
                return MtlsCase(outcome="accepted", detail="TLS session established and kept open")
            return MtlsCase(outcome="refused", detail="the server closed the session after the handshake"
                            if not data else "unexpected data from the server")
    except Exception as e:
        return classify_exception(e, connected)


def _try_redis(ctx: Context, ep: Endpoint, host: str, ca: str, cert: Optional[str], key: Optional[str]) -> MtlsCase:
    from redis.exceptions import AuthenticationError, ResponseError

    client = redis_tls_client(ctx, ep, host, ca, cert, key)
    try:
        client.ping()
        return MtlsCase(outcome="accepted", detail="PONG")
    except (AuthenticationError, ResponseError) as e:
        return MtlsCase(outcome="accepted", detail=f"TLS session established; then {_line(e)}")
    except Exception as e:
        text = _line(e)
        refused = any(m in text.lower() for m in _REFUSAL_MARKS) and "connection refused" not in text.lower()
        return MtlsCase(outcome="refused" if refused else "error", detail=text)
    finally:
        client.close()


def _try_mysql(ctx: Context, ep: Endpoint, host: str, ca: str, cert: Optional[str], key: Optional[str]) -> MtlsCase:
    import pymysql

    user = ep.credential.user if ep.credential and ep.credential.user else "plancheck_audit"
    ssl_opts: dict[str, Any] = {"ca": ca, "check_hostname": False}
    if cert and key:
        ssl_opts.update(cert=cert, key=key)
    try:
        conn = pymysql.connect(host=host, port=ep.port, user=user, password=secret(ctx, ep) or "", ssl=ssl_opts,
                               connect_timeout=ctx.timeout, read_timeout=ctx.timeout)
    except pymysql.err.OperationalError as e:
        code, msg = (tuple(e.args) + ("",))[:2]
        text = _line(f"({code}) {msg}")
        if code in (1045, 2026, 2013, 1044) or any(m in text.lower() for m in _REFUSAL_MARKS):
            return MtlsCase(outcome="refused", detail=text)
        return MtlsCase(outcome="error", detail=text)
    except Exception as e:
        return classify_exception(e, True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        return MtlsCase(outcome="accepted", detail=f"logged in as {user}")
    finally:
        conn.close()


@register
class MtlsSource(FactSource):
    live_cost = 1  # a handshake per client-certificate case of each endpoint
    name = "mtls"
    model = MtlsFacts

    def live(self, ctx: Context) -> MtlsFacts:
        t0 = time.monotonic()
        ca, cert, key = tls_files(ctx)
        specs = {n: s for n, s in ctx.profile.security.tls.endpoints.items() if s.mtls}
        ca_key = ctx.profile.target.tls_client.ca_key if ctx.profile.target.tls_client else None
        out: dict[str, MtlsEndpointFacts] = {}
        with tempfile.TemporaryDirectory(prefix="plancheck-mtls-") as tmp:
            os.chmod(tmp, 0o700)
            cn = _subject_cn(cert)
            foreign = mint_foreign(cn, Path(tmp))
            expired: Optional[tuple[str, str]] = None
            no_key = ""
            # the profile chose not to name the CA key: the case cannot be run here (skipped); a key it
            # names that cannot be read is a failure to observe (error)
            no_key_kind: Literal["absent", "unknown"] = "absent" if not ca_key else "unknown"
            if not ca_key:
                no_key = "the profile names no platform CA key (target.tls_client.ca_key): cannot mint an expired " \
                         "certificate from the platform CA"
            elif not ctx.path(ca_key).is_file():
                no_key = f"platform CA key not readable: {ctx.path(ca_key)}"
            else:
                expired = mint_expired(ca, str(ctx.path(ca_key)), cn, Path(tmp))
            clients: dict[str, Optional[tuple[Optional[str], Optional[str]]]] = {
                "no_cert": (None, None), "foreign_ca": foreign, "expired": expired, "valid": (cert, key)}
            with meter.BoundPool(max_workers=16) as pool:
                futures: dict[tuple[str, str], Any] = {}
                for name, spec in specs.items():
                    why = ctx.profile.cannot_run(ctx.profile.endpoint_container(name))
                    if why:  # skipped with this reason (fixtures/network.py); never probed
                        err = MtlsCase(outcome="error", detail=f"not probed: {why}")
                        out[name] = MtlsEndpointFacts(address=spec.endpoint, protocol=spec.protocol,
                                                      cases={c: err for c in CASES})
                        continue
                    try:
                        ep, host, sni = _where(ctx, name, spec)
                    except FactError as e:
                        err = MtlsCase(outcome="error", detail=str(e))
                        out[name] = MtlsEndpointFacts(address=spec.endpoint, protocol=spec.protocol,
                                                      cases={c: err for c in CASES})
                        continue
                    out[name] = MtlsEndpointFacts(address=f"{host}:{ep.port}", protocol=spec.protocol, cases={})
                    for case, files in clients.items():
                        if files is None:
                            out[name].cases[case] = Unavailable(reason=no_key, kind=no_key_kind)
                            continue
                        c, k = files
                        fn: Callable[[], MtlsCase]
                        if spec.protocol == "https":
                            fn = (lambda h=host, p=ep.port, s=sni, pa=spec.path, c=c, k=k:
                                  _try_https(h, p, s, pa, ca, c, k, ctx.timeout))
                        elif spec.protocol == "redis":
                            fn = lambda e=ep, h=host, c=c, k=k: _try_redis(ctx, e, h, ca, c, k)  # noqa: E731
                        elif spec.protocol == "mysql":
                            fn = lambda e=ep, h=host, c=c, k=k: _try_mysql(ctx, e, h, ca, c, k)  # noqa: E731
                        else:
                            fn = (lambda h=host, p=ep.port, s=sni, c=c, k=k:
                                  _try_tls(h, p, s, ca, c, k, ctx.timeout))
                        futures[(name, case)] = pool.submit(_with_one_retry, fn)
                for (name, case), fut in futures.items():
                    try:
                        out[name].cases[case] = fut.result()
                    except Exception as e:
                        out[name].cases[case] = MtlsCase(outcome="error", detail=_line(e))
        for facts in out.values():  # stable order for reports and recordings
            facts.cases = {c: facts.cases[c] for c in CASES if c in facts.cases}
        return MtlsFacts(source="live client-certificate cases (python ssl, pymysql, redis-py; throwaway "
                                "certificates from trustme/cryptography in a temp dir)",
                         endpoints=out, duration_s=round(time.monotonic() - t0, 3))


def _with_one_retry(fn: Callable[[], MtlsCase]) -> MtlsCase:
    """A case without a verdict (a handshake that timed out while a single-threaded server such as
    rsyslog was busy with the other cases) is tried once more before it is reported."""
    first = fn()
    return fn() if first.outcome == "error" else first


def _subject_cn(cert_path: str) -> str:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    c = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    cns = c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else "plancheck-audit"
