"""Fact sources, one module each; importing this package registers them all."""
from plancheck.facts import (  # noqa: F401  (importing registers each source)
    access, alert_drill, backup, containers, docker_daemon, elasticsearch, exposure, gpu, grafana, host, logs, logstack, mariadb,
    monitoring, nginx, redis, restore_drill, segmentation, tls,
)
from plancheck.facts.base import SOURCES, Context, FactError, Facts, FactStore, NoSource, Unavailable

__all__ = ["SOURCES", "Context", "FactError", "Facts", "FactStore", "NoSource", "Unavailable"]
