"""The TLS and mTLS facts' models (4.1), and how a check reads one endpoint of them.

Split out of `plancheck.facts.tls` (which still re-exports every name here): the probes
(`tls_wire`, `tls_versions`, `tls_probes`, `tls_mtls`) fill these models and the checks read them,
so the models sit below both with no I/O of their own.
"""
from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel

from plancheck.facts.base import FactError, Facts, Unavailable

VERSIONS = ["SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
TLS13_SUITES = ["TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256",
                "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"]


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


def endpoint_facts(facts: TlsFacts | MtlsFacts, name: str) -> Any:
    """The facts of one endpoint; an endpoint that could not be reached is that check's one-line error."""
    ep = facts.endpoints.get(name)
    if ep is None:
        raise FactError(f"{name}: no TLS facts gathered ({facts.source})")
    if getattr(ep, "error", ""):
        raise FactError(ep.error)
    return ep
