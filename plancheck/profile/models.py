"""Pydantic models of a profile. Unknown keys are errors (extra='forbid'); units are parsed here,
so checks only ever see bytes, days, Mbit/s and validated cron expressions.

This module holds `Profile`, the whole document; its sections live beside it, and every public name
is re-exported here (`from plancheck.profile.models import ...` keeps working):
- `models_base`: the unit-parsing field types (Size, Days, Mbps, Cron, TimeZone, Setting), Severity
  and `Strict`, the base of every model;
- `models_resources`: 1.1 hardware, 1.2 allocations and zones, 2.x containers and their policy;
- `models_datastores`: 3.1 MariaDB, its backup and restore drill, 3.2 Redis;
- `models_security`: 4. security (ports, TLS, web fronts, segmentation; access control is `access`);
- `models_monitoring`: 5. monitoring and logs;
- `models_docker`: beyond the plan, the Docker host and daemon (CIS Docker 1-3);
- `models_target`: where the platform is (target, endpoints, vantages, fleet).
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from plancheck.profile.models_base import Cron, Days, Mbps, Setting, Severity, Size, Strict, TimeZone
from plancheck.profile.models_datastores import Backup, MariaDB, MariaDBEncryption, Redis, RestoreDrill
from plancheck.profile.models_docker import DockerDaemon, DockerFileRule
from plancheck.profile.models_monitoring import (AlertDrill, Elasticsearch, Filebeat, Grafana, Kibana, LogClass,
                                                 LogCollector, Logs, Metric, Monitoring)
from plancheck.profile.models_resources import (Allocation, Container, ContainerPolicy, Cpu, Disk, Gpu, Hardware,
                                                LogPolicy, Network, Port, Zone)
from plancheck.profile.models_security import (ExposedPort, Flow, HostListener, Security, Segmentation, Tls,
                                               TlsService, WebServer)
from plancheck.profile.models_target import (ComposeTarget, Credential, Endpoint, Fleet, FleetGroup, LiveFile, Target,
                                             TlsClient, Vantage)

__all__ = [
    "Allocation", "AlertDrill", "Backup", "ComposeTarget", "Container", "ContainerPolicy", "Cpu", "Credential", "Cron",
    "Days", "Disk", "DockerDaemon", "DockerFileRule", "Elasticsearch", "Endpoint", "ExposedPort", "Filebeat", "Fleet",
    "FleetGroup", "Flow", "Gpu", "Grafana", "Hardware", "HostListener", "Kibana", "LiveFile", "LogClass",
    "LogCollector", "LogPolicy", "Logs", "MariaDB", "MariaDBEncryption", "Mbps", "Metric", "Monitoring", "Network",
    "Port", "Profile", "Redis", "RestoreDrill", "Security", "Segmentation", "Setting", "Severity", "Size", "Strict",
    "Target", "TimeZone", "Tls", "TlsClient", "TlsService", "Vantage", "WebServer", "Zone",
]


class Profile(Strict):
    name: str
    plan: str
    description: str = ""
    hardware: Hardware
    allocations: dict[str, Allocation]
    zones: dict[str, Zone]
    containers: dict[str, Container]
    container_policy: ContainerPolicy
    mariadb: MariaDB
    backup: Backup
    redis: Redis
    security: Security
    monitoring: Monitoring
    logs: Logs
    docker_daemon: DockerDaemon = DockerDaemon()  # beyond the plan: CIS Docker 1-3
    gpu_required: bool = True  # prod: a host without its GPUs fails; a lab/baseline profile skips
    report_language: Optional[Literal["ko", "en"]] = None  # labels of report.html; --lang overrides
    # key paths (dotted, `*` for any one key) whose values are not in the plan's words (hardening,
    # supporting containers, ports): records that compare them say basis "addition"
    additions: list[str] = []
    target: Target
    # key paths whose value differs from the profile this one extends (set by the loader, never in YAML):
    # records that compare them say basis "override"
    overrides: tuple[str, ...] = Field(default=(), exclude=True)

    def endpoint_container(self, tls_name: str) -> Optional[str]:
        """The container behind a TLS endpoint: the `service:NAME` of its target endpoint, else the
        container of the same name."""
        spec = self.security.tls.endpoints.get(tls_name)
        ep = self.target.endpoints.get(spec.endpoint) if spec else None
        if ep is not None and ep.host.startswith("service:"):
            return ep.host.split(":", 1)[1]
        return tls_name if tls_name in self.containers else None

    def cannot_run(self, container: Optional[str]) -> Optional[str]:
        """`NAME: reason` when the profile says the container cannot run where it points (skip_live)."""
        spec = self.containers.get(container or "")
        return f"{container}: {spec.skip_live}" if spec is not None and spec.skip_live else None

    def container_networks(self, name: str) -> list[str]:
        c = self.containers[name]
        if c.networks is not None:
            return c.networks
        zone = self.zones.get(c.zone)  # an unknown zone is reported by PLAN-012, not a crash here
        return zone.networks if zone else []
