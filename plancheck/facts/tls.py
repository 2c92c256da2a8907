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
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import secrets as pysecrets
import socket
import ssl
import struct
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from plancheck.facts import meter
from pathlib import Path
from typing import Any, Callable, Literal, Optional, Union

from pydantic import BaseModel

from plancheck.facts.base import Context, FactError, Facts, FactSource, Unavailable, register
from plancheck.facts.endpoints import endpoint, resolve_host, secret, tls_files
from plancheck.profile.models import Endpoint, TlsService

VERSIONS = ["SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
TLS13_SUITES = ["TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256",
                "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"]


def _line(e: BaseException | str, limit: int = 240) -> str:
    text = e if isinstance(e, str) else (f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
    return " ".join(str(text).split())[:limit]


# --- models -------------------------------------------------------------------------------------
class Certificate(BaseModel):
    subject: str
    issuer: str
    not_before: str  # ISO 8601, UTC
    not_after: str
    key_type: str  # RSA, EC, Ed25519, Ed448
    key_bits: int
    signature_algorithm: str  # e.g. ecdsa-with-SHA256
    san_dns: list[str]
    san_ip: list[str]
    chain_valid: bool  # OpenSSL verified the served chain against the platform CA
    chain_error: str = ""


class Probe(BaseModel):
    ok: bool
    detail: str


class TlsEndpointFacts(BaseModel):
    address: str
    protocol: str
    method: str = ""  # how the versions were probed
    error: str = ""  # the endpoint could not be reached at all (every check of it errors with this)
    versions: dict[str, bool] = {}  # SSLv2 .. TLSv1.3 -> accepted
    cipher_suites: list[str] = []  # accepted, every version
    negotiated_version: str = ""  # the audit client's own handshake
    negotiated_cipher: str = ""
    session: Optional[Probe] = None  # mysql/redis: the client library's authenticated TLS session
    session_version: str = ""
    session_cipher: str = ""
    certificate: Optional[Certificate] = None
    hsts: Optional[str] = None  # https: Strict-Transport-Security value ('' = not sent); None = not probed
    http_plain: Optional[Probe] = None  # the plaintext HTTP port: ok = closed or redirecting to https
    websocket: Optional[Probe] = None  # ok = 101 Switching Protocols and a frame echoed back


class TlsFacts(Facts):
    endpoints: dict[str, TlsEndpointFacts]
    duration_s: float = 0.0


class MtlsCase(BaseModel):
    outcome: Literal["accepted", "refused", "error"]  # error: no verdict (unreachable, timeout)
    detail: str


CASES = ("no_cert", "foreign_ca", "expired", "valid")


class MtlsEndpointFacts(BaseModel):
    address: str
    protocol: str
    cases: dict[str, Union[MtlsCase, Unavailable]]


class MtlsFacts(Facts):
    endpoints: dict[str, MtlsEndpointFacts]
    duration_s: float = 0.0


# --- shared helpers -----------------------------------------------------------------------------
def _where(ctx: Context, name: str, spec: TlsService) -> tuple[Endpoint, str, str]:
    ep = endpoint(ctx, spec.endpoint)
    host = resolve_host(ctx, ep)
    return ep, host, ep.server_name or spec.san or name


def _client_context(ca: str, cert: Optional[str], key: Optional[str], verify: bool = True) -> ssl.SSLContext:
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False  # names are checked by TLS-007 on the parsed certificate
    c.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
    c.load_verify_locations(ca)
    if cert and key:
        c.load_cert_chain(cert, key)
    return c


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by the server")
        buf += chunk
    return buf


def mysql_ssl_request(sock: socket.socket) -> None:
    """Read MariaDB's greeting and send the SSLRequest packet: the socket is then ready for TLS."""
    hdr = _recv_exact(sock, 4)
    length, seq = int.from_bytes(hdr[:3], "little"), hdr[3]
    payload = _recv_exact(sock, length)
    if payload[:1] == b"\xff":
        code = int.from_bytes(payload[1:3], "little")
        raise ConnectionError(f"MySQL error {code}: {payload[3:].decode(errors='replace')}")
    end = payload.index(b"\0", 1)
    caps = int.from_bytes(payload[end + 1 + 4 + 8 + 1:end + 1 + 4 + 8 + 1 + 2], "little")
    if not caps & 0x0800:
        raise ConnectionError("the server does not offer TLS (no CLIENT_SSL capability)")
    flags = 0x0800 | 0x0200 | 0x8000 | 0x0001 | 0x00080000  # SSL, PROTOCOL_41, SECURE_CONN, LONG_PW, PLUGIN_AUTH
    body = struct.pack("<IIB23x", flags, 16 * 1024 * 1024, 33)
    sock.sendall(len(body).to_bytes(3, "little") + bytes([(seq + 1) & 0xFF]) + body)


def _connect(host: str, port: int, timeout: float, protocol: str) -> socket.socket:
    sock = _dial(host, port, timeout)
    try:
        if protocol == "mysql":
            mysql_ssl_request(sock)
    except BaseException:
        sock.close()
        raise
    return sock


def parse_certificate(der: bytes, chain_valid: bool, chain_error: str = "") -> Certificate:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    c = x509.load_der_x509_certificate(der)
    pub = c.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        kt, bits = "RSA", pub.key_size
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        kt, bits = "EC", pub.curve.key_size
    elif isinstance(pub, ed25519.Ed25519PublicKey):
        kt, bits = "Ed25519", 256
    elif isinstance(pub, ed448.Ed448PublicKey):
        kt, bits = "Ed448", 456
    else:
        kt, bits = type(pub).__name__, 0
    try:
        san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = san.get_values_for_type(x509.DNSName)
        ips = [str(i) for i in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        dns, ips = [], []
    sig = getattr(c.signature_algorithm_oid, "_name", None) or c.signature_algorithm_oid.dotted_string
    return Certificate(subject=c.subject.rfc4514_string(), issuer=c.issuer.rfc4514_string(),
                       not_before=c.not_valid_before_utc.isoformat(), not_after=c.not_valid_after_utc.isoformat(),
                       key_type=kt, key_bits=bits, signature_algorithm=sig, san_dns=list(dns), san_ip=ips,
                       chain_valid=chain_valid, chain_error=chain_error)


def _read_http_head(tls: ssl.SSLSocket, limit: int = 65536) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < limit:
        chunk = tls.recv(4096)
        if not chunk:
            break
        data += chunk
    meter.count(0, len(data))  # the answer's bytes, on the connection already counted by _dial
    return data


def _dial(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection for one probe: one round trip of the source (the handshake and request on it
    belong to the same exchange). sslyze's own connections (cipher suites) are not counted."""
    meter.count(1, 0)
    return socket.create_connection((host, port), timeout=timeout)


def parse_http_head(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2) if lines and lines[0] else []
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


# --- tls source: the audit's own handshake, certificate, HTTP answer ----------------------------
def _session_probe(name: str, spec: TlsService, host: str, port: int, sni: str, files: tuple[str, str, str],
                   timeout: float, out: TlsEndpointFacts) -> None:
    ca, cert, key = files
    chain_valid, chain_error = True, ""
    for verify in (True, False):
        sock = _connect(host, port, timeout, spec.protocol)
        try:
            tls = _client_context(ca, cert, key, verify).wrap_socket(sock, server_hostname=sni)
        except ssl.SSLCertVerificationError as e:
            sock.close()
            chain_valid, chain_error = False, _line(e.verify_message or str(e))
            continue
        except BaseException:
            sock.close()
            raise
        try:
            der = tls.getpeercert(binary_form=True)
            out.negotiated_version = tls.version() or ""
            out.negotiated_cipher = (tls.cipher() or ("",))[0]
            out.certificate = parse_certificate(der, chain_valid, chain_error) if der else None
            if spec.protocol == "https" and spec.hsts:
                tls.sendall(f"GET {spec.path} HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n".encode())
                _, headers, _ = parse_http_head(_read_http_head(tls))
                out.hsts = headers.get("strict-transport-security", "")
        finally:
            tls.close()
        return


def _http_plain_probe(host: str, port: int, timeout: float) -> Probe:
    try:
        sock = _dial(host, port, timeout)
    except ConnectionRefusedError:
        return Probe(ok=True, detail=f"port {port} closed (connection refused)")
    except (socket.timeout, TimeoutError):
        return Probe(ok=True, detail=f"port {port} closed (no answer in {timeout:g} s)")
    except OSError as e:
        return Probe(ok=True, detail=f"port {port} closed ({_line(e)})")
    try:
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        return Probe(ok=False, detail=f"port {port} accepts connections ({_line(e)})")
    finally:
        sock.close()
    status, headers, _ = parse_http_head(data)
    location = headers.get("location", "")
    if status in (301, 302, 307, 308) and location.startswith("https://"):
        return Probe(ok=True, detail=f"HTTP {status} redirect to {location}")
    return Probe(ok=False, detail=f"plaintext HTTP answers on port {port}: HTTP {status or '(no status line)'}"
                                  + (f" Location: {location}" if location else ""))


def websocket_probe(host: str, port: int, sni: str, path: str, ca: str, timeout: float) -> Probe:
    """wss:// upgrade as a browser does it (no client certificate) and one echoed text frame."""
    key = base64.b64encode(os.urandom(16)).decode()
    accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    try:
        sock = _dial(host, port, timeout)
        tls = _client_context(ca, None, None).wrap_socket(sock, server_hostname=sni)
    except (OSError, ssl.SSLError) as e:
        return Probe(ok=False, detail=f"wss://{sni}:{port}{path}: {_line(e)}")
    try:
        tls.sendall((f"GET {path} HTTP/1.1\r\nHost: {sni}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        status, headers, rest = parse_http_head(_read_http_head(tls))
        if status != 101:
            return Probe(ok=False, detail=f"upgrade of {path} answered HTTP {status}, not 101")
        if headers.get("sec-websocket-accept") != accept:
            return Probe(ok=False, detail="101 without the right Sec-WebSocket-Accept")
        text = f"plancheck-{pysecrets.token_hex(4)}".encode()
        mask = os.urandom(4)
        tls.sendall(bytes([0x81, 0x80 | len(text)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(text)))
        data = rest
        deadline = time.monotonic() + timeout
        while len(data) < 2 + len(text) and time.monotonic() < deadline:
            chunk = tls.recv(4096)
            if not chunk:
                break
            data += chunk
        if len(data) >= 2 and data[0] & 0x0F == 1 and data[2:2 + (data[1] & 0x7F)] == text:
            try:  # close politely
                tls.sendall(bytes([0x88, 0x80]) + os.urandom(4))
            except OSError:
                pass
            return Probe(ok=True, detail=f"wss://{sni}{path}: 101 Switching Protocols, text frame echoed")
        return Probe(ok=False, detail=f"upgraded, but the frame was not echoed (got {data[:40]!r})")
    except (OSError, ssl.SSLError) as e:
        return Probe(ok=False, detail=f"wss://{sni}:{port}{path}: {_line(e)}")
    finally:
        tls.close()


class Inconclusive(Exception):
    """A handshake that neither completed nor was refused by the server (a timeout, a local library
    error): no verdict on the version, so the endpoint's checks error instead of reading "refused"."""


# What a server's refusal of an offered version or suite looks like: a TLS alert, or the connection
# closed or reset in answer to the ClientHello. Anything else (a timeout above all) is inconclusive.
_HANDSHAKE_REFUSALS = ("alert", "handshake failure", "wrong version number", "unsupported protocol",
                       "no shared cipher", "unexpected eof", "eof occurred", "reset by peer", "connection reset",
                       "connection closed", "broken pipe", "unexpected message", "record layer failure",
                       "peer did not send data back",
                       "no ciphers available", "version too low", "unknown protocol")


def classify_handshake_failure(e: BaseException) -> None:
    """Return when `e` is the server refusing the handshake; raise Inconclusive otherwise."""
    text = _line(e)
    if isinstance(e, (socket.timeout, TimeoutError)):
        raise Inconclusive(f"timed out: {text}")
    if isinstance(e, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError, EOFError)):
        return
    if any(m in text.lower() for m in _HANDSHAKE_REFUSALS):
        return
    raise Inconclusive(f"{type(e).__name__}: {text}")


def _nassl_handshake(host: str, port: int, timeout: float, protocol: str, version: str, files: tuple[str, str, str],
                     suite: Optional[str] = None) -> Optional[str]:
    """One handshake offering only `version` (and `suite`): the negotiated cipher, or None when the
    server refused it (an alert, a reset). Raises Inconclusive when it could not tell."""
    from nassl.legacy_ssl_client import LegacySslClient
    from nassl.ssl_client import OpenSslVerifyEnum, OpenSslVersionEnum, SslClient

    enum = {"SSLv2": OpenSslVersionEnum.SSLV2, "SSLv3": OpenSslVersionEnum.SSLV3, "TLSv1": OpenSslVersionEnum.TLSV1,
            "TLSv1.1": OpenSslVersionEnum.TLSV1_1, "TLSv1.2": OpenSslVersionEnum.TLSV1_2,
            "TLSv1.3": OpenSslVersionEnum.TLSV1_3}[version]
    cls: Any = SslClient if version in ("TLSv1.2", "TLSv1.3") else LegacySslClient
    sock = _connect(host, port, timeout, protocol)
    client = cls(underlying_socket=sock, ssl_version=enum, ssl_verify=OpenSslVerifyEnum.NONE,
                 client_certificate_chain=Path(files[1]), client_key=Path(files[2]))
    try:
        if version == "TLSv1.3":
            client.set_ciphersuites(suite or ":".join(TLS13_SUITES))
        else:
            client.set_cipher_list("ALL:COMPLEMENTOFALL" + (":@SECLEVEL=0" if cls is SslClient else ""))
        client.do_handshake()
        return client.get_current_cipher_name()
    except Exception as e:
        classify_handshake_failure(e)  # raises Inconclusive unless the server refused
        return None
    finally:
        try:
            client.shutdown()
        except Exception:
            pass
        sock.close()


def _versions(pool: ThreadPoolExecutor, host: str, port: int, timeout: float, protocol: str,
              files: tuple[str, str, str]) -> dict[str, Optional[str]]:
    """Each version (SSL 2.0 .. TLS 1.3) offered alone, every suite of it offered: version -> the
    negotiated cipher, None when refused. Raises when the server cannot be reached at all."""
    def once() -> dict[str, Optional[str]]:
        futures = {v: pool.submit(_nassl_handshake, host, port, timeout, protocol, v, files) for v in VERSIONS}
        return {v: f.result() for v, f in futures.items()}

    got = once()
    if not any(got.values()):
        # no version at all, not even the planned one: seen once from log-collector right after the
        # network break tests (the next audit found TLS 1.3 again; the cause was not found). A
        # server that speaks no TLS answers the same twice: asked again a second later, it is a
        # finding only if it still accepts nothing.
        time.sleep(1.0)
        got = once()
    return got


def _tls13_suites(pool: ThreadPoolExecutor, host: str, port: int, timeout: float, protocol: str,
                  files: tuple[str, str, str]) -> list[str]:
    futures = {s: pool.submit(_nassl_handshake, host, port, timeout, protocol, "TLSv1.3", files, s)
               for s in TLS13_SUITES}
    return [s for s, f in futures.items() if f.result()]


def _mysql_session(ctx: Context, ep: Endpoint, host: str, files: tuple[str, str, str]) -> tuple[Probe, str, str]:
    import pymysql

    ca, cert, key = files
    user = ep.credential.user if ep.credential and ep.credential.user else "plancheck_audit"
    try:
        conn = pymysql.connect(host=host, port=ep.port, user=user, password=secret(ctx, ep) or "",
                               ssl={"ca": ca, "cert": cert, "key": key, "check_hostname": False},
                               connect_timeout=ctx.timeout, read_timeout=ctx.timeout)
    except Exception as e:
        return Probe(ok=False, detail=f"pymysql as {user}: {_line(e)}"), "", ""
    try:
        s = conn._sock  # the library's SSLSocket
        version, cipher = s.version() or "", (s.cipher() or ("",))[0]
    finally:
        conn.close()
    return Probe(ok=True, detail=f"pymysql session as {user}: {version} {cipher}"), version, cipher


def _redis_session(ctx: Context, ep: Endpoint, host: str, files: tuple[str, str, str]) -> tuple[Probe, str, str]:
    import redis

    ca, cert, key = files
    user = ep.credential.user if ep.credential else None
    client = redis.Redis(host=host, port=ep.port, username=user, password=secret(ctx, ep), ssl=True,
                         ssl_ca_certs=ca, ssl_certfile=cert, ssl_keyfile=key, ssl_check_hostname=False,
                         socket_timeout=ctx.timeout, socket_connect_timeout=ctx.timeout, retry=None)
    try:
        client.ping()
        conn = client.connection_pool.get_connection()
        try:
            s = conn._sock
            version, cipher = s.version() or "", (s.cipher() or ("",))[0]
        finally:
            client.connection_pool.release(conn)
    except Exception as e:
        return Probe(ok=False, detail=f"redis-py as {user}: {_line(e)}"), "", ""
    finally:
        client.close()
    return Probe(ok=True, detail=f"redis-py session as {user}: {version} {cipher}"), version, cipher


def _sslyze_scan(targets: dict[str, tuple[str, int, str, list[str]]], files: tuple[str, str, str], timeout: float
                 ) -> dict[str, tuple[dict[str, bool], list[str], str]]:
    """One sslyze scan per endpoint, all queued at once, enumerating the cipher suites of the given
    versions: {name: (versions, accepted suites, error)}."""
    from sslyze import (ClientAuthenticationCredentials, ScanCommand, ScanCommandAttemptStatusEnum, Scanner,
                        ServerNetworkConfiguration, ServerNetworkLocation, ServerScanRequest, ServerScanStatusEnum)

    commands = {"SSLv2": (ScanCommand.SSL_2_0_CIPHER_SUITES, "ssl_2_0_cipher_suites"),
                "SSLv3": (ScanCommand.SSL_3_0_CIPHER_SUITES, "ssl_3_0_cipher_suites"),
                "TLSv1": (ScanCommand.TLS_1_0_CIPHER_SUITES, "tls_1_0_cipher_suites"),
                "TLSv1.1": (ScanCommand.TLS_1_1_CIPHER_SUITES, "tls_1_1_cipher_suites"),
                "TLSv1.2": (ScanCommand.TLS_1_2_CIPHER_SUITES, "tls_1_2_cipher_suites"),
                "TLSv1.3": (ScanCommand.TLS_1_3_CIPHER_SUITES, "tls_1_3_cipher_suites")}
    creds = ClientAuthenticationCredentials(certificate_chain_path=Path(files[1]), key_path=Path(files[2]))
    requests, names = [], {}
    for name, (host, port, sni, versions) in targets.items():
        if not versions:
            continue
        req = ServerScanRequest(
            server_location=ServerNetworkLocation(hostname=sni, port=port, ip_address=host),
            network_configuration=ServerNetworkConfiguration(tls_server_name_indication=sni,
                                                             tls_client_auth_credentials=creds,
                                                             network_timeout=max(1, int(timeout)),
                                                             network_max_retries=1),
            scan_commands={commands[v][0] for v in versions})
        requests.append(req)
        names[req.uuid] = name
    out: dict[str, tuple[dict[str, bool], list[str], str]] = {}
    if not requests:
        return out
    scanner = Scanner(per_server_concurrent_connections_limit=5, concurrent_server_scans_limit=len(requests))
    scanner.queue_scans(requests)
    for result in scanner.get_results():
        name = names[result.uuid] if hasattr(result, "uuid") else next(
            n for n, (h, p, _, _) in targets.items() if (h, p) == (result.server_location.ip_address,
                                                                  result.server_location.port))
        if result.scan_status == ServerScanStatusEnum.ERROR_NO_CONNECTIVITY:
            out[name] = ({}, [], _line(f"sslyze: no TLS connectivity: {result.connectivity_error_trace}"))
            continue
        versions, suites, errors = {}, [], []
        for version in targets[name][3]:
            attempt = getattr(result.scan_result, commands[version][1])
            if attempt.status != ScanCommandAttemptStatusEnum.COMPLETED:
                errors.append(f"{version}: {_line(str(attempt.error_reason))}")
                continue
            accepted = [s.cipher_suite.name for s in attempt.result.accepted_cipher_suites]
            versions[version] = bool(accepted)
            suites += accepted
        out[name] = (versions, list(dict.fromkeys(suites)), "; ".join(errors))
    return out


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
    import redis
    from redis.exceptions import AuthenticationError, ResponseError

    user = ep.credential.user if ep.credential else None
    client = redis.Redis(host=host, port=ep.port, username=user, password=secret(ctx, ep), ssl=True,
                         ssl_ca_certs=ca, ssl_certfile=cert, ssl_keyfile=key, ssl_check_hostname=False,
                         socket_timeout=ctx.timeout, socket_connect_timeout=ctx.timeout, retry=None)
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


def endpoint_facts(facts: TlsFacts | MtlsFacts, name: str) -> Any:
    """The facts of one endpoint; an endpoint that could not be reached is that check's one-line error."""
    ep = facts.endpoints.get(name)
    if ep is None:
        raise FactError(f"{name}: no TLS facts gathered ({facts.source})")
    if getattr(ep, "error", ""):
        raise FactError(ep.error)
    return ep
