"""Fact sources, one module each; importing this package registers them all."""
from plancheck.facts.base import SOURCES, Context, FactError, Facts, FactStore, NoSource, Unavailable


from plancheck.facts import containers, mariadb, nginx, redis  # noqa: F401,E402  (registers the sources)
from plancheck.facts import gpu, host  # noqa: F401,E402  (registers the sources)
from plancheck.facts import backup, elasticsearch, grafana, logs, monitoring, restore_drill  # noqa: F401,E402  (registers the sources)

__all__ = ["SOURCES", "Context", "FactError", "Facts", "FactStore", "NoSource", "Unavailable"]
from plancheck.facts import exposure, segmentation, tls  # noqa: F401,E402  (registers: tls, mtls, exposure, segmentation)
