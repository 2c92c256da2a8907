"""Which protocol versions and cipher suites a TLS endpoint accepts (the `tls` source's scan).

Each version (SSL 2.0 .. TLS 1.3) is offered alone with nassl (sslyze's own OpenSSL builds), after
MySQL's SSLRequest where the protocol needs it; the accepted versions' cipher suites are enumerated
by sslyze on direct-TLS endpoints, or TLS 1.3 suite by suite with nassl where sslyze cannot speak
the protocol. A handshake that neither completed nor was refused is `Inconclusive`, never "refused".

Split out of `plancheck.facts.tls` (which still re-exports the public names): the version and
suite scan is its own concern, apart from the audit client's own session probes (`tls_probes`).
"""
from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

from plancheck.facts.tls_models import TLS13_SUITES, VERSIONS
from plancheck.facts.tls_wire import _connect, _line


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
