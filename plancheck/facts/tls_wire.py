"""Raw TLS plumbing shared by the `tls` and `mtls` sources: where an endpoint is, a metered TCP
connection, the client SSL context, MySQL's SSLRequest before TLS, reading and parsing an HTTP head,
and parsing a served certificate.

Split out of `plancheck.facts.tls` (which still re-exports the public names): every probe module
(`tls_versions`, `tls_probes`, `tls_mtls`) dials and handshakes through these, so the counting of
round trips (`_dial`, `_read_http_head`) happens in one place.
"""
from __future__ import annotations

import socket
import ssl
import struct
from typing import Optional

from plancheck.facts import meter
from plancheck.facts.base import Context
from plancheck.facts.endpoints import endpoint, resolve_host, secret
from plancheck.facts.tls_models import Certificate
from plancheck.profile.models import Endpoint, TlsService


def _line(e: BaseException | str, limit: int = 240) -> str:
    text = e if isinstance(e, str) else (f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
    return " ".join(str(text).split())[:limit]


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


def redis_tls_client(ctx: Context, ep: Endpoint, host: str, ca: str, cert: Optional[str], key: Optional[str]):  # type: ignore[no-untyped-def]
    """A redis-py client over TLS as the audit's account (`ep.credential`), with the given client
    certificate (None: none), the run's timeouts and no retries: what the session probe and the
    mTLS cases both open."""
    import redis

    user = ep.credential.user if ep.credential else None
    return redis.Redis(host=host, port=ep.port, username=user, password=secret(ctx, ep), ssl=True,
                       ssl_ca_certs=ca, ssl_certfile=cert, ssl_keyfile=key, ssl_check_hostname=False,
                       socket_timeout=ctx.timeout, socket_connect_timeout=ctx.timeout, retry=None)
