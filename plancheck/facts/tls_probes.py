"""What the audit's own client sees on a TLS endpoint (the `tls` source's per-endpoint probes):
its handshake with the audit's client certificate (negotiated version and cipher, the served
certificate and whether its chain verifies, the HSTS header of an HTTPS answer), the plaintext HTTP
port (closed or redirecting), a wss:// upgrade with an echoed frame, and the authenticated TLS
session of the client libraries (pymysql for MariaDB, redis-py for Redis).

Split out of `plancheck.facts.tls` (which still re-exports the public names): these probes fill
one `TlsEndpointFacts` each, apart from the version and suite scan (`tls_versions`).
"""
from __future__ import annotations

import base64
import hashlib
import os
import secrets as pysecrets
import socket
import ssl
import time

from plancheck.facts.base import Context
from plancheck.facts.endpoints import secret
from plancheck.facts.tls_models import Probe, TlsEndpointFacts
from plancheck.facts.tls_wire import (_client_context, _connect, _dial, _line, _read_http_head, parse_certificate,
                                      parse_http_head, redis_tls_client)
from plancheck.profile.models import Endpoint, TlsService


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
    ca, cert, key = files
    user = ep.credential.user if ep.credential else None
    client = redis_tls_client(ctx, ep, host, ca, cert, key)
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
