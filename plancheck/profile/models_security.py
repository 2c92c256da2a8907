"""The profile's 4. security section: exposed ports, TLS and its handshake-checked endpoints, the
nginx fronts, tolerated host listeners and the segmentation matrix between containers. Access
control (4.2) has its own module, `plancheck.profile.access`.

Split out of `plancheck.profile.models`, which re-exports every public name.
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from plancheck.profile.access import AccessControl
from plancheck.profile.models_base import Strict


# --- 4. security --------------------------------------------------------------------------------
class ExposedPort(Strict):
    port: int = Field(ge=1, le=65535)
    service: str
    protocols: list[str]


class TlsService(Strict):
    """A TLS endpoint proven live by real handshakes (4.1): the target endpoint it is reached at and
    how it is spoken to. `https`/`tls`/`redis`: direct TLS (scanned with sslyze); `mysql`: TLS after
    MySQL's SSLRequest (probed with nassl, sslyze cannot speak it)."""
    endpoint: str  # key of target.endpoints
    protocol: Literal["https", "tls", "redis", "mysql"] = "https"
    exposure: Literal["external", "internal"] = "internal"  # which of the version lists applies
    mtls: bool = True  # a client certificate from the platform CA is required
    san: Optional[str] = None  # DNS name the certificate must cover (default: the endpoint's server_name)
    path: str = "/"  # https: the request whose answer shows whether the client was let in
    hsts: bool = False  # https: Strict-Transport-Security must be sent
    websocket: Optional[str] = None  # https: a path that must upgrade to a WebSocket (wss://) and echo
    http_port: Optional[int] = None  # plaintext HTTP port that must be closed or redirect to https://


class Tls(Strict):
    external_versions: list[str]
    internal_versions: list[str]
    mtls: bool
    min_days_valid: int = 14
    cipher_suites: list[str] = []
    min_key_bits: dict[str, int] = {"RSA": 2048, "EC": 256}
    signature_algorithms: list[str] = ["sha256WithRSAEncryption", "sha384WithRSAEncryption",
                                       "sha512WithRSAEncryption", "ecdsa-with-SHA256", "ecdsa-with-SHA384",
                                       "ecdsa-with-SHA512", "ed25519", "ed448"]
    endpoints: dict[str, TlsService] = {}  # name -> endpoint checked by handshakes (TLS-0xx, MTLS-0xx)


class HostListener(Strict):
    """A host socket outside the plan that the profile tolerates (never a platform service)."""
    address: str = "0.0.0.0"
    port: int = Field(ge=1, le=65535)
    why: str


class Flow(Strict):
    """An allowed connection between containers: sources and destinations are container names or
    `zone:NAME`; ports default to every service port of the destination."""
    sources: list[str] = Field(alias="from")
    to: list[str]
    ports: list[int] = []
    required: bool = True  # True: must answer (SEG-001); False: tolerated, neither required nor forbidden
    why: str = ""


class Segmentation(Strict):
    """The reachability matrix between containers (SEG-0xx): every (source, destination:port) pair is
    forbidden unless a flow allows it."""
    service_ports: dict[str, list[int]]  # container -> TCP ports it serves inside the platform
    allowed: list[Flow]
    probe_timeout_s: float = Field(default=0.5, gt=0, le=10)


class WebServer(Strict):
    """An nginx front (the public gateway, the admin portal): its config key in target.config_files."""
    config: str
    container: str
    require_client_cert: bool
    upstream_mtls: bool
    hsts_min_age: int = 31536000
    headers: list[str] = ["X-Content-Type-Options", "X-Frame-Options"]


class Security(Strict):
    internal_networks: list[str] = []  # networks with no route to the outside (Docker `internal`)
    public_ports: list[ExposedPort]
    vpn_ports: list[ExposedPort]
    tls: Tls
    encryption_at_rest: str
    access_control: AccessControl = AccessControl()  # 4.2 접근 제어 (plancheck/profile/access.py)
    web: dict[str, WebServer] = {}
    host_listeners: list[HostListener] = []  # host sockets tolerated besides the published ports
    ignore_loopback_listeners: bool = True  # 127.0.0.0/8 and ::1 are not reachable from any vantage
    segmentation: Optional[Segmentation] = None
