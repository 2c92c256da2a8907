"""The profile's `target` section: where the platform is (Docker host, Compose project, config
files, endpoints and their credentials, the audit's TLS client, vantage points, an Ansible fleet).

Split out of `plancheck.profile.models`, which re-exports every public name.
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, field_validator

from plancheck.profile.models_base import Strict


# --- target: where the platform is ---------------------------------------------------------------
class Credential(Strict):
    """Where to find a secret: the NAME of an environment variable or of a file path variable.
    Values never live in a profile."""
    user: Optional[str] = None
    password_env: Optional[str] = None
    password_file: Optional[str] = None

    @field_validator("password_env")
    @classmethod
    def _name_only(cls, v: Optional[str]) -> Optional[str]:
        import re

        if v is not None and not re.fullmatch(r"[A-Z_][A-Z0-9_]*", v):
            raise ValueError("must be an environment variable NAME (A-Z, 0-9, _), never a secret value")
        return v


class TlsClient(Strict):
    ca: str
    cert: str
    key: str
    # the platform CA's key: only to mint a throwaway EXPIRED client certificate (MTLS-003) in a temp
    # dir; absent: that check is skipped with the reason
    ca_key: Optional[str] = None


class Vantage(Strict):
    """An outside client on the audited host: a network namespace with its own link to the host."""
    netns: str
    address: str  # key of target.addresses: the exact host address it scans (never a subnet)
    sees: list[Literal["public", "vpn"]]  # which of security.public_ports / vpn_ports it may reach
    interface: Optional[str] = None  # host side of its link (the DOCKER-USER rules name it)


class Endpoint(Strict):
    host: str
    port: int = Field(ge=1, le=65535)
    server_name: Optional[str] = None
    credential: Optional[Credential] = None
    config_path: Optional[str] = None  # the service's config file inside its container (fallback reads)
    scheme: Optional[str] = None  # http / https for HTTP APIs (Prometheus, Elasticsearch, Grafana)


class ComposeTarget(Strict):
    project_dir: str
    files: list[str]
    env_files: list[str] = []
    project_name: str
    profiles: list[str] = []


class LiveFile(Strict):
    """A config file read from inside the running container (docker API, read-only)."""
    service: str
    path: str


class FleetGroup(Strict):
    """One role of the fleet: an inventory group whose hosts are audited host by host."""
    # the hosts of this role run the platform's Docker engine, reached over SSH (DOCKER_HOST=ssh://):
    # false marks the per-host Docker sources absent (skipped with that reason); true and no answer is an error
    docker: bool = True
    docker_user: Optional[str] = None  # user of the ssh:// Docker endpoint (default: the inventory's ansible_user)


class Fleet(Strict):
    """The hosts to audit, from an Ansible inventory (hosts, addresses, users, keys as Ansible reads
    them); host-level controls run once per host of the named groups, through testinfra."""
    inventory: str  # path, relative to the project root unless absolute
    groups: dict[str, FleetGroup]  # inventory group -> its role's settings; a list of names is also accepted

    @field_validator("groups", mode="before")
    @classmethod
    def _names(cls, v: object) -> object:
        return {str(g): {} for g in v} if isinstance(v, list) else v

    @field_validator("groups")
    @classmethod
    def _some(cls, v: dict[str, FleetGroup]) -> dict[str, FleetGroup]:
        if not v:
            raise ValueError("name at least one inventory group")
        return v


class Target(Strict):
    docker_host: str = "unix:///var/run/docker.sock"
    compose: ComposeTarget
    config_files: dict[str, list[str]] = {}
    live_files: dict[str, LiveFile] = {}  # same keys as config_files: where the running copy is
    endpoints: dict[str, Endpoint] = {}
    tls_client: Optional[TlsClient] = None
    timeout_s: float = Field(default=5.0, gt=0, le=120)
    # all sources are gathered concurrently before the first check; one still reading after this
    # many seconds is an error for its checks ("did not answer within the run deadline")
    run_deadline_s: float = Field(default=300.0, gt=0, le=3600)
    # every literal endpoint address must be configured on this host: the platform runs here, and a
    # missing vantage address (namespaces down) must not send probes out through the default route
    local_only: bool = False
    host_backend: str = "local://"
    addresses: dict[str, str] = {}
    vantages: dict[str, Vantage] = {}  # outside vantage points for the port scans (PORT-0xx)
    scan_timeout_s: float = Field(default=0.5, gt=0, le=10)  # per-port connect timeout of the scans
    fleet: Optional[Fleet] = None  # audit several hosts from an Ansible inventory (host-level controls)
