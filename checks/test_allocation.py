"""1.2 리소스 할당 and 2.2 컨테이너 리소스 할당: the plan checked against itself.

These controls read only the profile: they show where the plan's own numbers do not add up (the
plan as written over-commits memory), before any platform is looked at.
"""
from __future__ import annotations

from plancheck.controls import control
from plancheck.evaluate import Check
from plancheck.profile.models import Profile
from plancheck.units import format_size, parse_size

ALLOC = "1.2 리소스 할당 (resource allocation)"
CONTAINERS = "2.2 컨테이너 리소스 할당 (container allocation)"


def _zone_containers(profile: Profile, zones: list[str]) -> dict[str, int]:
    return {n: c.memory for n, c in profile.containers.items() if c.zone in zones}


@control("PLAN-001", title="Container memory limits fit their allocation's memory budget", severity="high",
         section=ALLOC, rationale="Limits above the budget let one zone starve the other under load.",
         remediation="Lower the containers' memory limits or raise the allocation's memory in the plan.",
         reads=("allocations.{allocation}", "containers.*.memory"))
def test_allocation_memory_budget(check: Check, profile: Profile, allocation: str) -> None:
    a = profile.allocations[allocation]
    members = _zone_containers(profile, a.zones)
    check.at_most(sum(members.values()), a.memory, what=f"sum of limits in zones {', '.join(a.zones)}",
                  fmt=lambda v: format_size(v) if isinstance(v, int) else str(v))


@control("PLAN-002", title="Allocation memory budgets fit the server's physical memory", severity="high",
         section=ALLOC, rationale="Budgets that add up to more than the RAM promise memory that does not exist.",
         remediation="Make the allocations' memory add up to at most the server's RAM.",
         reads=("allocations.*.memory", "hardware.memory"))
def test_allocations_fit_ram(check: Check, profile: Profile) -> None:
    check.at_most(sum(a.memory for a in profile.allocations.values()), profile.hardware.memory,
                  what="sum of allocation budgets", fmt=format_size)


@control("PLAN-003", title="All container memory limits together fit the server's physical memory", severity="high",
         section=CONTAINERS, rationale="Over-committed limits mean the kernel OOM killer, not the plan, decides "
         "which service dies when all are busy.",
         remediation="Reduce container memory limits until their sum is at most the server's RAM.",
         reads=("containers.*.memory", "hardware.memory"))
def test_containers_fit_ram(check: Check, profile: Profile) -> None:
    check.at_most(sum(c.memory for c in profile.containers.values()), profile.hardware.memory,
                  what="sum of all container limits", fmt=format_size)


@control("PLAN-004", title="Every zone belongs to exactly one resource allocation", severity="medium",
         section=ALLOC, rationale="A zone outside every allocation has no budget, so nothing bounds it.",
         remediation="Add the zone to one allocation of section 1.2.",
         reads=("allocations.*.zones", "zones.{zone}"))
def test_zone_allocated(check: Check, profile: Profile, zone: str) -> None:
    owners = sorted(n for n, a in profile.allocations.items() if zone in a.zones)
    check.that(len(owners) == 1, expected="exactly one allocation", found=owners or "none", what=zone)


@control("PLAN-005", title="GPUs pinned in an allocation's zones fit its GPU budget", severity="high",
         section=ALLOC, rationale="Pinning more distinct GPUs than budgeted takes cards from the other allocation.",
         remediation="Re-pin containers to stay within the allocation's GPU count.",
         reads=("allocations.{allocation}.gpus", "allocations.{allocation}.zones", "containers.*.gpus"))
def test_allocation_gpu_budget(check: Check, profile: Profile, allocation: str) -> None:
    a = profile.allocations[allocation]
    gpus = sorted({g for c in profile.containers.values() if c.zone in a.zones for g in c.gpus})
    check.that(len(gpus) <= a.gpus, expected=f"<= {a.gpus} distinct GPUs", found=f"{len(gpus)} {gpus}",
               what=f"GPUs pinned in zones {', '.join(a.zones)}")


@control("PLAN-006", title="Allocation GPU budgets fit the server's GPU count", severity="high", section=ALLOC,
         rationale="Budgets above the installed GPUs cannot be honoured.",
         remediation="Make the allocations' GPU counts add up to at most the installed GPUs.",
         reads=("allocations.*.gpus", "hardware.gpu.count"))
def test_allocations_fit_gpus(check: Check, profile: Profile) -> None:
    check.at_most(sum(a.gpus for a in profile.allocations.values()), profile.hardware.gpu.count,
                  what="sum of allocation GPU budgets")


@control("PLAN-007", title="Every pinned GPU index exists on the server", severity="high", section=CONTAINERS,
         rationale="A device id beyond the installed count makes the container fail to start.",
         remediation="Pin the container to GPU indexes between 0 and count-1.",
         reads=("containers.{gpu_container}.gpus", "hardware.gpu.count"))
def test_gpu_index_exists(check: Check, profile: Profile, gpu_container: str) -> None:
    bad = [g for g in profile.containers[gpu_container].gpus if not 0 <= g < profile.hardware.gpu.count]
    check.none_of(bad, what=f"GPU indexes outside 0..{profile.hardware.gpu.count - 1}")


@control("PLAN-008", title="A GPU is shared only inside one zone", severity="medium", section=CONTAINERS,
         rationale="The plan shares GPU 2 between vector-db and training-server (both AI zone); sharing "
         "across zones would mix budgets of two allocations.",
         remediation="Pin containers of different zones to different GPUs.",
         reads=("containers.*.gpus", "containers.*.zone"))
def test_gpu_shared_within_zone(check: Check, profile: Profile, gpu_index: int) -> None:
    users = {n: c.zone for n, c in profile.containers.items() if gpu_index in c.gpus}
    check.that(len(set(users.values())) <= 1, expected="users from one zone",
               found=users or "unused", what=f"GPU {gpu_index}")


@control("PLAN-009", title="Allocation storage budgets fit the server's storage", severity="medium", section=ALLOC,
         rationale="Budgets above the installed capacity cannot be honoured.",
         remediation="Make the allocations' storage add up to at most the installed capacity.",
         reads=("allocations.*.storage", "hardware.storage"))
def test_allocations_fit_storage(check: Check, profile: Profile) -> None:
    check.at_most(sum(a.storage for a in profile.allocations.values()),
                  sum(d.capacity for d in profile.hardware.storage), what="sum of storage budgets",
                  fmt=format_size)


@control("PLAN-010", title="MariaDB buffer pool fits inside the MariaDB container's memory limit", severity="high",
         section="3.1 MariaDB 설정", rationale="A buffer pool at or above the container limit gets mysqld OOM-killed.",
         remediation="Keep innodb_buffer_pool_size well below the container's memory limit.",
         reads=("mariadb.variables.innodb_buffer_pool_size", "containers.mariadb.memory"))
def test_buffer_pool_fits_container(check: Check, profile: Profile) -> None:
    pool = parse_size(str(profile.mariadb.variables.get("innodb_buffer_pool_size", 0)))
    limit = profile.containers[profile.mariadb.container].memory
    check.that(pool < limit, expected=f"< {format_size(limit)}", found=format_size(pool),
               what="innodb_buffer_pool_size")


@control("PLAN-011", title="Redis maxmemory fits inside the Redis container's memory limit", severity="high",
         section="3.2 Redis 설정", rationale="Above the container limit Redis is OOM-killed before eviction starts.",
         remediation="Keep Redis maxmemory at or below the container's memory limit.",
         reads=("redis.maxmemory", "containers.redis.memory"))
def test_redis_maxmemory_fits_container(check: Check, profile: Profile) -> None:
    check.at_most(profile.redis.maxmemory, profile.containers[profile.redis.container].memory,
                  what="redis maxmemory", fmt=format_size)


@control("PLAN-012", title="Every container belongs to a zone of the plan", severity="medium", section=CONTAINERS,
         rationale="A container outside the zones has no network placement and no budget.",
         remediation="Assign the container to one of the zones of section 2.1.",
         reads=("containers.{container}.zone", "zones"))
def test_container_zone_known(check: Check, profile: Profile, container: str) -> None:
    zone = profile.containers[container].zone
    check.that(zone in profile.zones, expected=f"one of {sorted(profile.zones)}", found=zone, what=container)


# --- one source of truth: every planned container is reached, watched and logged as the plan says --
def _scraped(profile: Profile, name: str) -> list[str]:
    """The scrape jobs that cover a container: one named after it, or one listing it as a target."""
    m = profile.monitoring
    return sorted({j for j in m.scrape_jobs if j == name} | {j for j, hosts in m.scrape_targets.items()
                                                              if name in hosts and j in m.scrape_jobs})


@control("PLAN-013", title="Every planned container that listens has a TLS endpoint to prove", severity="high",
         section="4.1 네트워크 보안 (컨테이너 간: TLS 1.3)",
         rationale="컨테이너 간 TLS 1.3 and 서비스 메시 mTLS are proven endpoint by endpoint (TLS-0xx, MTLS-0xx): a "
         "listening container with no entry in security.tls.endpoints is never handshaken, so its TLS is unchecked.",
         remediation="Add the container to security.tls.endpoints and its address to target.endpoints.",
         reads=("security.tls.endpoints",))
def test_listener_has_tls_endpoint(check: Check, profile: Profile, listening_container: str) -> None:
    names = sorted(n for n in profile.security.tls.endpoints if profile.endpoint_container(n) == listening_container)
    seg = profile.security.segmentation
    ports = sorted({p.port for p in profile.containers[listening_container].ports}
                   | set(seg.service_ports.get(listening_container, []) if seg else []))
    check.that(bool(names), expected="an entry in security.tls.endpoints", found=names or "none",
               what=f"{listening_container} (listens on {ports})")


@control("PLAN-014", title="Every planned container is scraped or the profile says why not", severity="medium",
         section="5.1 시스템 모니터링 (monitoring)",
         rationale="The plan monitors the platform it builds: a container that no scrape job covers and that the "
         "profile does not explain is a blind spot nobody decided on.",
         remediation="Add the container (or its exporter's job, named after it) to monitoring.scrape_jobs / "
         "scrape_targets, or list it under monitoring.not_scraped with the reason.",
         reads=("monitoring.scrape_jobs", "monitoring.scrape_targets", "monitoring.not_scraped"))
def test_container_scraped(check: Check, profile: Profile, planned_container: str) -> None:
    jobs = _scraped(profile, planned_container)
    why = profile.monitoring.not_scraped.get(planned_container)
    check.that(bool(jobs) or bool(why), expected="a scrape job, or a reason in monitoring.not_scraped",
               found=f"jobs {jobs}" if jobs else f"not scraped: {why}" if why else "neither",
               what=planned_container)


@control("PLAN-015", title="Every planned container's logs are a log source or the profile says why not",
         severity="medium", section="5.2 로그 관리 (log management)",
         rationale="The plan collects application, system and security audit logs: a container whose logs no "
         "source collects and that the profile does not explain is a gap nobody decided on.",
         remediation="Map the container to a log source (logs.container_sources) or list it under "
         "logs.not_collected with the reason.",
         reads=("logs.container_sources", "logs.not_collected"))
def test_container_logged(check: Check, profile: Profile, planned_container: str) -> None:
    src = profile.logs.container_sources.get(planned_container)
    why = profile.logs.not_collected.get(planned_container)
    check.that((src is not None and src in profile.logs.sources) or (src is None and bool(why)),
               expected="a log source of logs.sources, or a reason in logs.not_collected",
               found=(f"source {src}" + ("" if src in profile.logs.sources else " (not in logs.sources)")) if src
               else f"not collected: {why}" if why else "neither", what=planned_container)
