"""Beyond the plan: the Docker host and daemon the platform runs on (CIS Docker Benchmark sections
1-3, docker-bench-security 1.6 numbering), with the default file rules and audit watches.

Split out of `plancheck.profile.models`, which re-exports every public name.
"""
from __future__ import annotations

from typing import Any, Optional

from pydantic import Field, field_validator

from plancheck.profile.models_base import Strict


# --- beyond the plan: the Docker host and daemon (CIS Docker Benchmark sections 1-3) ------------
class DockerFileRule(Strict):
    """Who may own a daemon file or socket and the most permissive mode it may have (CIS 3.x)."""
    owner: str = "root"
    group: Optional[str] = "root"  # None: only the owner is checked (registry certificates, CIS 3.7)
    max_mode: str = "644"  # octal: no permission bit beyond these may be set


# docker-bench-security 1.6 numbering: which daemon files CIS 3.x holds to which owner and mode
_DOCKER_FILES: dict[str, dict[str, Any]] = {
    "docker.service": {"max_mode": "644"},
    "docker.socket": {"max_mode": "644"},
    "/etc/docker": {"max_mode": "755"},
    "certs.d": {"group": None, "max_mode": "444"},
    "tlscacert": {"max_mode": "444"},
    "tlscert": {"max_mode": "444"},
    "tlskey": {"max_mode": "400"},
    "docker.sock": {"group": "docker", "max_mode": "660"},
    "daemon.json": {"max_mode": "644"},
    "/etc/default/docker": {"max_mode": "644"},
    "/etc/sysconfig/docker": {"max_mode": "644"},
    "containerd.sock": {"max_mode": "660"},
}

# CIS 1.1.3-1.1.18 (docker-bench-security 1.6): the files and directories auditd must watch
_DOCKER_AUDIT_WATCHES: dict[str, str] = {
    "1.1.3": "/usr/bin/dockerd", "1.1.4": "/run/containerd", "1.1.5": "/var/lib/docker",
    "1.1.6": "/etc/docker", "1.1.7": "docker.service", "1.1.8": "containerd.sock",
    "1.1.9": "docker.socket", "1.1.10": "/etc/default/docker", "1.1.11": "/etc/docker/daemon.json",
    "1.1.12": "/etc/containerd/config.toml", "1.1.13": "/etc/sysconfig/docker",
    "1.1.14": "/usr/bin/containerd", "1.1.15": "/usr/bin/containerd-shim",
    "1.1.16": "/usr/bin/containerd-shim-runc-v1", "1.1.17": "/usr/bin/containerd-shim-runc-v2",
    "1.1.18": "/usr/bin/runc",
}


class DockerDaemon(Strict):
    """The Docker host and daemon the platform runs on (DKR-0xx): what the daemon must be configured
    to do, read from the running daemon (docker info, dockerd's command line, its daemon.json) and
    the host (mounts, auditd rules, file modes); statically from the desired daemon.json."""
    config: str = "docker-daemon"  # target.config_files key of the desired daemon.json
    separate_partition: bool = True  # 1.1.1: the daemon's root dir on a file system of its own
    trusted_users: list[str] = []  # 1.1.2: who may be in the docker group
    # 1.1.3-1.1.18: CIS id -> the path (or systemd unit / socket name) auditd must watch
    audit_watches: dict[str, str] = Field(default_factory=lambda: dict(_DOCKER_AUDIT_WATCHES))
    icc: bool = False  # 2.2: inter-container traffic on the default bridge
    log_level: str = "info"  # 2.3
    iptables: bool = True  # 2.4
    insecure_registries: list[str] = []  # 2.5: allowed (none)
    forbidden_storage_drivers: list[str] = ["aufs"]  # 2.6
    tcp_tlsverify: bool = True  # 2.7: a TCP socket, if any, verifies clients' certificates
    default_ulimits: list[str] = ["nofile"]  # 2.8: ulimits the daemon must set for every container
    userns_remap: bool = True  # 2.9
    cgroup_parent: Optional[str] = None  # 2.10: None: Docker's default cgroup parent
    authorization_plugin: bool = True  # 2.12
    log_drivers: list[str] = ["json-file"]  # 2.13: allowed default log drivers (the shipper reads json-file)
    no_new_privileges: bool = True  # 2.14
    live_restore: bool = True  # 2.15
    userland_proxy: bool = False  # 2.16
    seccomp: bool = True  # 2.17: a daemon-wide seccomp profile (Docker's default or a custom one)
    experimental: bool = False  # 2.18
    files: dict[str, DockerFileRule] = Field(
        default_factory=lambda: {k: DockerFileRule(**v) for k, v in _DOCKER_FILES.items()})  # 3.x
    # setting (a key above) -> why this target cannot meet it: the check still observes the value
    # and, where it deviates, is skipped with this reason and what it found (never passed); null
    # withdraws an acceptance of the profile this one extends
    accepted: dict[str, Optional[str]] = {}

    @field_validator("accepted")
    @classmethod
    def _known_settings(cls, v: dict[str, Optional[str]]) -> dict[str, Optional[str]]:
        known = (set(cls.model_fields) - {"config", "accepted"}) | {"base_device_size"}
        unknown = sorted(set(v) - known)
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown}: accepted deviations name one of {sorted(known)}")
        return v
