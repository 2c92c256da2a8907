"""2. 컨테이너 구성: every container as planned (zone, memory, networks, ports) and hardened
(CIS Docker Benchmark section 4-5). One set of controls for static (compose) and live (inspect)."""
from __future__ import annotations

import pytest

from plancheck.controls import control
from plancheck.evaluate import Check
from plancheck.facts.containers import ContainerFacts, ContainersFacts
from plancheck.profile.models import Container, Profile
from plancheck.units import UnitError, format_size, parse_size

ALLOC = "2.2 컨테이너 리소스 할당 (container allocation)"
STRUCT = "2.1 Docker 컨테이너 구조 (zones)"
HARD = "2. 컨테이너 구성 (container hardening)"
NET = "4.1 네트워크 보안 (network security)"


def _cis(*ids: str) -> tuple[str, ...]:
    """Tags for the CIS Docker Benchmark 1.13 ids and docker-bench-security's CIS 1.6 numbering."""
    out = []
    for i in ids:
        cis13, bench16 = i.split("|") if "|" in i else (i, i)
        out += [f"cis-docker-1.13:{cis13}", f"docker-bench-1.6:{bench16}"]
    return tuple(out)


@control("CT-001", title="Container of the plan is defined / exists", severity="critical", section=STRUCT,
         rationale="A planned service that is not deployed is a missing part of the platform.",
         remediation="Define the service in the compose project and deploy it.",
         reads=("containers.{container}",))
def test_container_exists(check: Check, container: str, planned: Container, containers: ContainersFacts) -> None:
    check.that(container in containers.containers, expected="present", what=container,
               found="present" if container in containers.containers else f"absent from {containers.source}")


@control("CT-002", title="Container is running", severity="critical", section=STRUCT,
         rationale="A stopped service is an outage.", remediation="Start the container and find why it stopped "
         "(docker logs).", tags=_cis("5.26|5.27"),
         reads=("containers.{container}",))
def test_container_running(check: Check, ctr: ContainerFacts) -> None:
    check.is_true(ctr.running, what="state", expected_text="running", found_text="stopped")


@control("CT-003", title="Container is healthy", severity="high", section=STRUCT,
         rationale="The healthcheck is the service's own statement that it works.",
         remediation="Read the container's health log (docker inspect .State.Health) and fix the service.",
         tags=_cis("5.26|5.27"),
         reads=("containers.{container}",))
def test_container_healthy(check: Check, ctr: ContainerFacts) -> None:
    check.equal(ctr.health, "healthy", what="health")


@control("CT-004", title="Memory limit equals the plan", severity="high", section=ALLOC,
         rationale="The plan sizes every container; a missing or different limit breaks the allocation.",
         remediation="Set mem_limit of the service to the planned value.", tags=_cis("5.10|5.11"),
         reads=("containers.{container}.memory",))
def test_memory_limit(check: Check, ctr: ContainerFacts, planned: Container) -> None:
    check.equal(ctr.memory, planned.memory, what="memory limit",
                fmt=lambda v: format_size(v) if isinstance(v, int) else "none")


@control("CT-005", title="CPU limit is set", severity="medium", section=HARD,
         rationale="Without a CPU limit one container can starve the others.",
         remediation="Set `cpus:` on the service.", tags=_cis("5.11|5.12"),
         reads=("container_policy.require_cpu_limit",))
def test_cpu_limit(check: Check, ctr: ContainerFacts, profile: Profile) -> None:
    if not profile.container_policy.require_cpu_limit:
        check.not_applicable("the profile does not require CPU limits (container_policy.require_cpu_limit)")
    check.that(bool(ctr.cpus), what="cpus", expected="a limit", found=ctr.cpus or "none")


@control("CT-006", title="PIDs limit is set and bounded", severity="medium", section=HARD,
         rationale="A fork bomb in one container must not exhaust the host's PIDs.",
         remediation="Set `pids_limit:` on the service.", tags=_cis("5.28|5.29"),
         reads=("container_policy.pids_limit_max",))
def test_pids_limit(check: Check, ctr: ContainerFacts, profile: Profile) -> None:
    limit = profile.container_policy.pids_limit_max
    check.that(bool(ctr.pids_limit) and 0 < ctr.pids_limit <= limit,  # type: ignore[operator]
               expected=f"1..{limit}", found=ctr.pids_limit or "unlimited", what="pids limit")


@control("CT-007", title="Restart policy is set", severity="medium", section=HARD,
         rationale="A crashed service must come back without an operator.",
         remediation="Set `restart: unless-stopped` (or a policy the profile allows).", tags=_cis("5.14|5.15"),
         reads=("container_policy.restart",))
def test_restart_policy(check: Check, ctr: ContainerFacts, profile: Profile) -> None:
    allowed = profile.container_policy.restart
    policy = (ctr.restart or "no").split(":")[0]
    check.that(policy in allowed, expected=f"one of {allowed}", found=ctr.restart or "no", what="restart")


@control("CT-008", title="Container is not privileged", severity="critical", section=HARD,
         rationale="A privileged container is root on the host.", remediation="Remove `privileged: true`.",
         tags=_cis("5.4|5.5"),
         reads=("+cis",))
def test_not_privileged(check: Check, ctr: ContainerFacts) -> None:
    check.equal(ctr.privileged, False, what="privileged")


@control("CT-009", title="All capabilities dropped; only planned ones added", severity="high", section=HARD,
         rationale="Each capability is a piece of root; the plan's services need almost none.",
         remediation="Set `cap_drop: [ALL]` and add back only the profile's `cap_add` list.", tags=_cis("5.3|5.4"),
         reads=("container_policy.drop_all_capabilities", "containers.{container}.cap_add"))
def test_capabilities(check: Check, ctr: ContainerFacts, planned: Container, profile: Profile) -> None:
    if profile.container_policy.drop_all_capabilities:
        check.that("ALL" in ctr.cap_drop, expected="ALL", found=ctr.cap_drop or "none", what="cap_drop")
    check.subset(ctr.cap_add, planned.cap_add, what="cap_add")


@control("CT-010", title="no-new-privileges is set", severity="high", section=HARD,
         rationale="Blocks privilege escalation through setuid binaries.",
         remediation="Add `security_opt: [no-new-privileges:true]`.", tags=_cis("5.25|5.26"),
         reads=("container_policy.no_new_privileges",))
def test_no_new_privileges(check: Check, ctr: ContainerFacts, profile: Profile) -> None:
    if not profile.container_policy.no_new_privileges:
        check.not_applicable("the profile does not require no-new-privileges (container_policy.no_new_privileges)")
    check.equal(ctr.no_new_privileges, True, what="no-new-privileges")


@control("CT-011", title="Root filesystem is read-only where the profile says", severity="medium", section=HARD,
         rationale="An immutable root stops tampering with binaries and configuration.",
         remediation="Set `read_only: true` and give writable paths a tmpfs or volume.", tags=_cis("5.12|5.13"),
         reads=("containers.{container}.read_only",))
def test_read_only_root(check: Check, ctr: ContainerFacts, planned: Container) -> None:
    if not planned.read_only:
        check.not_applicable(f"{ctr.name}: the profile does not plan a read-only root for it")
    check.equal(ctr.read_only, True, what="read_only")


@control("CT-012", title="Runs as a non-root user where the image allows", severity="high", section=HARD,
         rationale="A process escaping a root container is root on the host.",
         remediation="Set `user:` to the service's own account.", tags=_cis("4.1|4.1"),
         reads=("containers.{container}.non_root",))
def test_non_root(check: Check, ctr: ContainerFacts, planned: Container) -> None:
    if not planned.non_root:
        check.not_applicable(f"{ctr.name}: the profile lets it run as root (its image needs it)")
    root = ctr.user in ("", "root", "0") or ctr.user.startswith(("0:", "root:"))
    check.that(not root, expected="a non-root user", found=ctr.user or "root (default)", what="user")


@control("CT-013", title="Not on the host network", severity="critical", section=NET,
         rationale="Host networking bypasses zone networks and exposes every listening port.",
         remediation="Remove `network_mode: host`; attach the zone's networks.", tags=_cis("5.9|5.10"),
         reads=("containers.{container}.zone",))
def test_no_host_network(check: Check, ctr: ContainerFacts) -> None:
    check.that(ctr.network_mode != "host", expected="not host", found=ctr.network_mode, what="network_mode")


@control("CT-014", title="Host PID namespace not shared", severity="high", section=HARD,
         rationale="Sharing the host PID namespace lets the container see and signal host processes.",
         remediation="Remove `pid: host`.", tags=_cis("5.15|5.16"),
         reads=("+cis",))
def test_no_host_pid(check: Check, ctr: ContainerFacts) -> None:
    check.that(ctr.pid_mode != "host", expected="private", found=ctr.pid_mode or "private", what="pid")


@control("CT-015", title="Host IPC namespace not shared", severity="high", section=HARD,
         rationale="Shared IPC exposes host shared memory.", remediation="Remove `ipc: host`.", tags=_cis("5.16|5.17"),
         reads=("+cis",))
def test_no_host_ipc(check: Check, ctr: ContainerFacts) -> None:
    check.that(ctr.ipc_mode != "host", expected="private", found=ctr.ipc_mode or "private", what="ipc")


@control("CT-016", title="Host UTS namespace not shared", severity="medium", section=HARD,
         rationale="Sharing UTS lets a container change the host's hostname.", remediation="Remove `uts: host`.",
         tags=_cis("5.20|5.21"),
         reads=("+cis",))
def test_no_host_uts(check: Check, ctr: ContainerFacts) -> None:
    check.that(ctr.uts_mode != "host", expected="private", found=ctr.uts_mode or "private", what="uts")


@control("CT-017", title="Host user namespace not forced", severity="medium", section=HARD,
         rationale="`userns_mode: host` disables user namespace remapping for the container.",
         remediation="Remove `userns_mode: host`.", tags=_cis("5.30|5.31"),
         reads=("+cis",))
def test_no_host_userns(check: Check, ctr: ContainerFacts) -> None:
    check.that(ctr.userns_mode != "host", expected="default", found=ctr.userns_mode or "default", what="userns")


@control("CT-018", title="Docker socket not mounted", severity="critical", section=HARD,
         rationale="The docker socket is root on the host.", remediation="Remove the docker.sock volume.",
         tags=_cis("5.31|5.32"),
         reads=("container_policy.forbidden_mounts",))
def test_no_docker_socket(check: Check, ctr: ContainerFacts) -> None:
    check.none_of([m.source for m in ctr.mounts if m.source.endswith("docker.sock")], what="docker socket mounts")


@control("CT-019", title="No sensitive host directories mounted", severity="high", section=HARD,
         rationale="Mounting /, /etc, /proc, ... gives the container the host.",
         remediation="Mount only the service's own config files and volumes.", tags=_cis("5.5|5.6"),
         reads=("container_policy.forbidden_mounts", "containers.{container}.allowed_host_mounts"))
def test_no_sensitive_mounts(check: Check, ctr: ContainerFacts, planned: Container, profile: Profile) -> None:
    def norm(p: str) -> str:
        return p.rstrip("/") or "/"

    forbidden = {norm(f) for f in profile.container_policy.forbidden_mounts}
    allowed = {norm(a) for a in planned.allowed_host_mounts}
    bad = [f"{m.source}{' (rw)' if not m.read_only else ''}" for m in ctr.mounts
           if m.type == "bind" and norm(m.source) in forbidden
           and not (norm(m.source) in allowed and m.read_only)]
    check.none_of(bad, what="sensitive host mounts (beyond the profile's read-only exceptions)")


@control("CT-020", title="No host devices passed in", severity="high", section=HARD,
         rationale="Raw devices bypass the container boundary (GPUs come through device requests instead).",
         remediation="Remove `devices:`.", tags=_cis("5.17|5.18"),
         reads=("+cis",))
def test_no_host_devices(check: Check, ctr: ContainerFacts) -> None:
    check.none_of(ctr.devices, what="devices")


@control("CT-021", title="Seccomp profile not disabled", severity="high", section=HARD,
         rationale="The default seccomp profile blocks dangerous syscalls.",
         remediation="Remove `seccomp:unconfined` from security_opt.", tags=_cis("5.21|5.22"),
         reads=("+cis",))
def test_seccomp(check: Check, ctr: ContainerFacts) -> None:
    check.equal(ctr.seccomp_unconfined, False, what="seccomp unconfined")


@control("CT-022", title="Container logs are bounded", severity="medium", section="5.2 로그 관리 (log management)",
         rationale="Unbounded json-file logs fill the disk; the plan keeps realtime logs 7 days, not forever.",
         remediation="Set logging options max-size and max-file within the profile's bounds.", tags=_cis("2.12|2.13"),
         reads=("container_policy.log",))
def test_log_bounded(check: Check, ctr: ContainerFacts, profile: Profile) -> None:
    pol = profile.container_policy.log
    try:
        size = parse_size(ctr.log_opts.get("max-size", "")) if ctr.log_opts.get("max-size") else None
    except UnitError:
        size = None
    files = int(ctr.log_opts["max-file"]) if ctr.log_opts.get("max-file", "").isdigit() else None
    ok = ctr.log_driver == pol.driver and size is not None and size <= pol.max_size and \
        files is not None and files <= pol.max_file
    check.that(ok, expected=f"{pol.driver}, max-size <= {format_size(pol.max_size)}, max-file <= {pol.max_file}",
               found=f"{ctr.log_driver}, max-size {ctr.log_opts.get('max-size', 'unset')}, "
                     f"max-file {ctr.log_opts.get('max-file', 'unset')}", what="logging")


@control("CT-023", title="Attached only to its zone's networks", severity="high", section=STRUCT,
         rationale="Zones are separate networks; an extra network is a path the plan does not allow.",
         remediation="Attach the service exactly to the networks its zone lists in the profile.",
         reads=("containers.{container}.zone", "containers.{container}.networks", "zones"))
def test_zone_networks(check: Check, ctr: ContainerFacts, container: str, profile: Profile) -> None:
    check.equal(sorted(ctr.networks), sorted(profile.container_networks(container)), what="networks")


@control("CT-025", title="Image is pinned (no `latest` tag)", severity="medium", section=HARD,
         rationale="A moving tag makes the deployed software unknowable and the audit unrepeatable.",
         remediation="Pin the image to a version tag or digest.",
         reads=("container_policy.forbidden_image_tags",))
def test_image_pinned(check: Check, ctr: ContainerFacts, profile: Profile) -> None:
    ref = ctr.image.rsplit("/", 1)[-1]
    tag = ref.split("@")[0].split(":")[1] if ":" in ref.split("@")[0] else ("" if "@" in ref else "latest")
    check.that(tag not in profile.container_policy.forbidden_image_tags, expected="a pinned tag or digest",
               found=ctr.image, what="image")


@control("CT-026", title="Healthcheck is defined", severity="medium", section=HARD,
         rationale="Without a healthcheck, Docker (and this audit) cannot tell a hung service from a working one.",
         remediation="Add a `healthcheck:` that exercises the service.", tags=_cis("4.6|4.6"),
         reads=("+cis",))
def test_healthcheck_defined(check: Check, ctr: ContainerFacts) -> None:
    check.equal(ctr.healthcheck, True, what="healthcheck")


@control("CT-027", title="No container outside the plan", severity="high", section=STRUCT,
         rationale="An unplanned container is unaudited attack surface and unbudgeted memory.",
         remediation="Remove the service, or add it to the profile with its zone and limits.",
         reads=("containers",))
@pytest.mark.per_host  # each fleet host's engine runs nothing outside the plan
def test_no_unplanned_containers(check: Check, containers: ContainersFacts, profile: Profile) -> None:
    extra = sorted(set(containers.containers) - set(profile.containers))
    foreign = check.fact(containers.foreign) if check.observed(containers.foreign) else []
    check.none_of(extra + [f"{f}: not of compose project {containers.project}" for f in foreign],
                  what=f"unplanned containers ({containers.source})",
                  among=len(containers.containers) + len(foreign), noun="containers")


@control("CT-028", title="Zone network has only the planned containers attached", severity="high", section=STRUCT,
         rationale="A zone is its network: any container attached to it (started by hand, another project's, "
         "whatever its labels) can reach every service of the zone.",
         remediation="Disconnect the container (docker network disconnect NET CONTAINER) and remove it, or plan it "
         "in the profile with its zone.",
         reads=("zones", "containers"))
def test_zone_network_members(check: Check, containers: ContainersFacts, zone_network: str, profile: Profile) -> None:
    net = containers.networks.get(zone_network)
    if net is None:
        check.fail(f"network {zone_network} does not exist in {containers.source}")
    planned = sorted(c for c in profile.containers if zone_network in profile.container_networks(c))
    check.subset(net.members, planned, what=f"containers attached to {zone_network}")  # type: ignore[union-attr]


@control("NET-001", title="Inner zone networks have no route outside", severity="critical", section=NET,
         rationale="The database, AI and monitoring zones must not be reachable from the public network.",
         remediation="Declare the network `internal: true` in the compose project.", tags=_cis("2.1|2.1"),
         reads=("security.internal_networks",))
def test_internal_networks(check: Check, containers: ContainersFacts, profile: Profile) -> None:
    for net in profile.security.internal_networks:
        facts = containers.networks.get(net)
        check.that(facts is not None and facts.internal, expected="internal", what=f"network {net}",
                   found="absent" if facts is None else ("internal" if facts.internal else "routed to the outside"))
