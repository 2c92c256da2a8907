"""Beyond the plan: the Docker host and daemon the platform runs on, hardened as the CIS Docker
Benchmark sections 1-3 ask (host configuration, daemon configuration, daemon files). Numbered as
docker-bench-security 1.6 numbers them (`docker-bench-1.6:` tags; `cis-docker-1.13:` where that
edition has the same rule), and decided as docker-bench decides unless a control's docstring says
where it is stricter. One set of controls for static (the desired daemon.json) and live (docker info,
dockerd's command line and daemon.json, the host's mounts, auditd rules and file modes).

A deviation a target cannot avoid is stated in the profile (`docker_daemon.accepted`: setting ->
reason): the check still observes the value and, where it deviates, is skipped with that reason and
what it found, never passed."""
from __future__ import annotations

from typing import Any

from plancheck.controls import control
from plancheck.evaluate import Check, not_here
from plancheck.facts.docker_daemon import DockerDaemonFacts, mode_beyond, watches
from plancheck.profile.models import Profile
from plancheck.units import UnitError, format_size, parse_size

# beyond the plan (a top-level number alone resolves there), by topic
HOST = "2. 컨테이너 구성 (docker host)"
DAEMON = "2. 컨테이너 구성 (docker daemon)"
FILES = "2. 컨테이너 구성 (docker daemon files)"


def _cis(bench16: str, cis13: str = "") -> tuple[str, ...]:
    """docker-bench-security 1.6 (CIS 1.6.0) ids, and the CIS 1.13 id where that edition has the rule."""
    tags = [f"docker-bench-1.6:{i}" for i in bench16.split(",")]
    return tuple(tags + ([f"cis-docker-1.13:{i}" for i in cis13.split(",")] if cis13 else []))


def judge(check: Check, profile: Profile, key: str, ok: bool, *, expected: Any, found: Any, what: str) -> None:
    """Compare; a deviation the profile accepts (docker_daemon.accepted) is skipped with its reason."""
    reason = profile.docker_daemon.accepted.get(key)
    if not ok and reason:
        check.not_applicable(f"accepted deviation (docker_daemon.accepted.{key}): {reason}; "
                             f"expected {expected}, found {found}")
    check.that(ok, expected=expected, found=found, what=what)


def _where(value: Any, where: str) -> str:
    return f"{value} ({where})" if where != "not set" else "not set (Docker's default)"


# --- 1. host configuration -----------------------------------------------------------------------
@control("DKR-001", title="The Docker root dir is a separate partition", severity="medium", section=HOST,
         rationale="Images, containers and volumes under the daemon's root dir can fill the disk; on a file "
         "system of their own they cannot starve the host (CIS 1.1.1). Stricter than docker-bench, which "
         "accepts any mount point there (a bind mount of the root file system too).",
         remediation="Mount a file system of its own (an LVM volume) at the daemon's root dir (/var/lib/docker).",
         tags=_cis("1.1.1", "1.1"), reads=("docker_daemon.separate_partition", "docker_daemon.accepted.separate_partition"))
def test_separate_partition(check: Check, docker_daemon: DockerDaemonFacts, profile: Profile) -> None:
    if not profile.docker_daemon.separate_partition:
        check.not_applicable("the profile does not require a separate partition (docker_daemon.separate_partition)")
    m = check.fact(docker_daemon.root_mount)
    found = (f"{m.root_dir} on {m.source or '?'} ({m.device}, root {m.fs_root}) mounted at {m.mount_point}; "
             f"/ on {m.host_root_device}")
    judge(check, profile, "separate_partition", m.separate, what="root dir file system", found=found,
          expected=f"a file system of its own mounted at {m.root_dir}")


@control("DKR-002", title="Only trusted users are in the docker group", severity="high", section=HOST,
         rationale="The docker group is root on the host: every member can start a privileged container "
         "(CIS 1.1.2).",
         remediation="Remove untrusted users from the docker group (gpasswd -d USER docker), or list the trusted "
         "ones in docker_daemon.trusted_users.",
         tags=_cis("1.1.2", "1.4"), reads=("docker_daemon.trusted_users", "docker_daemon.accepted.trusted_users"))
def test_docker_group(check: Check, docker_daemon: DockerDaemonFacts, profile: Profile) -> None:
    members = check.fact(docker_daemon.docker_group)
    extra = sorted(set(members) - set(profile.docker_daemon.trusted_users))
    judge(check, profile, "trusted_users", not extra, what="docker group members",
          expected=f"only {sorted(profile.docker_daemon.trusted_users) or 'none'}",
          found=f"{members or 'no members'}" + (f" (untrusted: {extra})" if extra else ""))


@control("DKR-003", title="auditd watches the Docker daemon's files", severity="medium", section=HOST,
         rationale="Changes to dockerd, containerd, runc and the daemon's configuration and data are the "
         "host's most privileged changes; auditd rules record who made them (CIS 1.1.3-1.1.18). A path that "
         "is not on the host is skipped (docker-bench: INFO). Stricter than docker-bench: the rule must "
         "watch exactly the path (-w PATH, path=, dir=), and rules.d files count where auditctl is missing.",
         remediation="Add `-w PATH -k docker` to /etc/audit/rules.d/docker.rules for each path and load it "
         "(augenrules --load).",
         tags=_cis("1.1.3,1.1.4,1.1.5,1.1.6,1.1.7,1.1.8,1.1.9,1.1.10,1.1.11,1.1.12,1.1.13,1.1.14,1.1.15,1.1.16,"
                   "1.1.17,1.1.18", "1.5,1.6,1.7,1.8,1.9,1.10,1.11"),
         reads=("docker_daemon.audit_watches", "docker_daemon.accepted.audit_watches"))
def test_audit_watch(check: Check, docker_daemon: DockerDaemonFacts, profile: Profile,
                     audit_watch: tuple[str, str]) -> None:
    _, key = audit_watch
    path = check.fact(docker_daemon.paths).get(key, "")
    if not path:
        not_here(f"{key}: not on this host (nothing to audit)")
    rules = check.fact(docker_daemon.audit)
    judge(check, profile, "audit_watches", watches(rules.rules, path), what=f"audit rule for {path}",
          expected=f"-w {path}", found=f"none among {len(rules.rules)} rules ({rules.source})"
          if not watches(rules.rules, path) else f"watched ({rules.source})")


# --- 2. daemon configuration ---------------------------------------------------------------------
def seen(check: Check, docker_daemon: DockerDaemonFacts) -> DockerDaemonFacts:
    """The daemon's settings come from its command line and daemon.json: live, a command line that could
    not be read is an error (never "not set"); static, daemon.json alone is the desired state."""
    check.observed(docker_daemon.cmdline)
    return docker_daemon


def judge_flag(check: Check, docker_daemon: DockerDaemonFacts, profile: Profile, key: str, setting: str,
               default: bool) -> None:
    """A true/false daemon setting against profile.docker_daemon.<key> (Docker's default when unset)."""
    seen(check, docker_daemon)
    want = getattr(profile.docker_daemon, key)
    on, said = _bool(docker_daemon, setting, default)
    judge(check, profile, key, on == want, what=setting, expected=str(want).lower(), found=said)


def _bool(docker_daemon: DockerDaemonFacts, name: str, default: bool) -> tuple[bool, str]:
    value, where = docker_daemon.setting(name)
    if value is None:
        return default, f"{str(default).lower()}: not set (Docker's default)"
    truth = value if isinstance(value, bool) else str(value).lower() in ("true", "1")
    return truth, f"{str(truth).lower()} ({where})"


@control("DKR-004", title="No inter-container traffic on the default bridge", severity="medium", section=DAEMON,
         rationale="With icc on, every container on docker0 reaches every other one on any port (CIS 2.2). The "
         "platform's zones are user-defined networks (NET-001, SEG-0xx); this closes the default bridge.",
         remediation="Set \"icc\": false in daemon.json and restart dockerd.",
         tags=_cis("2.2", "2.1"), reads=("docker_daemon.icc", "docker_daemon.accepted.icc"))
def test_icc(check: Check, docker_daemon: DockerDaemonFacts, profile: Profile) -> None:
    judge_flag(check, docker_daemon, profile, "icc", "icc", default=True)


@control("DKR-005", title="Daemon log level is info", severity="low", section=DAEMON,
         rationale="debug logs leak request details and grow fast; warn and above drop the events an "
         "investigation needs (CIS 2.3).",
         remediation="Set \"log-level\": \"info\" in daemon.json (or drop --log-level/-l/--debug).",
         tags=_cis("2.3", "2.2"), reads=("docker_daemon.log_level", "docker_daemon.accepted.log_level"))
def test_log_level(check: Check, docker_daemon: DockerDaemonFacts, profile: Profile) -> None:
    seen(check, docker_daemon)
    want = profile.docker_daemon.log_level
    value, where = docker_daemon.setting("log-level")
    found = str(value or "info")
    if docker_daemon.flags().get("debug") and value is None:
        found, where = "debug", "dockerd command line (--debug)"
    judge(check, profile, "log_level", found.lower() == want.lower(), what="log-level", expected=want,
          found=_where(found, where) if where != "not set" else "info: not set (Docker's default)")


@control("DKR-006", title="Docker may manage iptables", severity="high", section=DAEMON,
         rationale="With iptables off, published ports and network isolation are whatever the host's rules "
         "happen to be (CIS 2.4); the platform's DOCKER-USER rules and zone isolation rely on Docker's chains.",
         remediation="Remove \"iptables\": false / --iptables=false.",
         tags=_cis("2.4", "2.3"), reads=("docker_daemon.iptables", "docker_daemon.accepted.iptables"))
def test_iptables(check: Check, docker_daemon: DockerDaemonFacts, profile: Profile) -> None:
    judge_flag(check, docker_daemon, profile, "iptables", "iptables", default=True)


@control("DKR-007", title="No insecure registries", severity="high", section=DAEMON,
         rationale="An insecure registry is pulled from without TLS verification: images can be swapped in "
         "transit (CIS 2.5). Live, the daemon's effective registry config counts too (Docker's built-in "
         "127.0.0.0/8 aside).",
         remediation="Remove insecure-registries / --insecure-registry; give the registry a certificate "
         "(/etc/docker/certs.d/HOST/ca.crt).",
         tags=_cis("2.5", "2.4"), reads=("docker_daemon.insecure_registries", "docker_daemon.accepted.insecure_registries"))
def test_insecure_registries(check: Check, docker_daemon: DockerDaemonFacts, profile: Profile) -> None:
    seen(check, docker_daemon)
    configured, where = docker_daemon.setting("insecure-registry")
    found = set(configured)
    if check.observed(docker_daemon.info):
        reg = (docker_daemon.info or {}).get("RegistryConfig") or {}  # type: ignore[union-attr]
        found |= {c for c in reg.get("InsecureRegistryCIDRs") or [] if c != "127.0.0.0/8"}
        found |= {n for n, c in (reg.get("IndexConfigs") or {}).items() if not (c or {}).get("Secure", True)}
    bad = sorted(found - set(profile.docker_daemon.insecure_registries))
    judge(check, profile, "insecure_registries", not bad, what="insecure registries",
          expected=f"only {profile.docker_daemon.insecure_registries or 'none'}",
          found=f"{bad} ({where})" if bad else "none")


@control("DKR-008", title="No aufs storage driver", severity="medium", section=DAEMON,
         rationale="aufs is unmaintained, out of the mainline kernel and known for kernel crashes (CIS 2.6).",
         remediation="Use overlay2 (\"storage-driver\": \"overlay2\") and migrate images.",
         tags=_cis("2.6", "2.5"), reads=("docker_daemon.forbidden_storage_drivers", "docker_daemon.accepted.forbidden_storage_drivers"))
def test_storage_driver(check: Check, docker_daemon: DockerDaemonFacts, profile: Profile) -> None:
    seen(check, docker_daemon)
    if check.observed(docker_daemon.info):
        driver, where = str(docker_daemon.info.get("Driver") or "?"), "docker info"  # type: ignore[union-attr]
    else:
        value, where = docker_daemon.setting("storage-driver")
        driver = str(value or "overlay2")
    bad = profile.docker_daemon.forbidden_storage_drivers
    judge(check, profile, "forbidden_storage_drivers", driver not in bad, what="storage driver",
          expected=f"none of {bad}", found=_where(driver, where))


@control("DKR-009", title="A TCP socket of the daemon requires TLS client certificates", severity="critical",
         section=DAEMON,
         rationale="The Docker API is root on the host: on TCP without tlsverify anyone who reaches the port "
         "owns the host (CIS 2.7). No TCP socket passes (docker-bench: INFO).",
         remediation="Listen on the unix socket only, or set tlsverify with tlscacert/tlscert/tlskey.",
         tags=_cis("2.7", "2.6"), reads=("docker_daemon.tcp_tlsverify", "docker_daemon.accepted.tcp_tlsverify"))
def test_tcp_tls(check: Check, docker_daemon: DockerDaemonFacts, profile: Profile) -> None:
    hosts, where = seen(check, docker_daemon).setting("host")
    tcp = [h for h in hosts if not h.startswith(("unix://", "fd://", "npipe://"))]
    verify, said = _bool(docker_daemon, "tlsverify", False)
    judge(check, profile, "tcp_tlsverify", not tcp or verify or not profile.docker_daemon.tcp_tlsverify,
          what="daemon sockets", expected="unix socket only, or tlsverify on every TCP socket",
          found=f"TCP {tcp} ({where}), tlsverify {said}" if tcp else f"no TCP socket ({hosts or 'default unix socket'})")


@control("DKR-010", title="Default ulimits are set for containers", severity="low", section=DAEMON,
         rationale="A daemon-wide default ulimit bounds what any container (also one started by hand) may take "
         "(CIS 2.8).",
         remediation="Set \"default-ulimits\" in daemon.json (e.g. nofile) within what the services need.",
         tags=_cis("2.8", "2.7"), reads=("docker_daemon.default_ulimits", "docker_daemon.accepted.default_ulimits"))
def test_default_ulimits(check: Check, docker_daemon: DockerDaemonFacts, profile: Profile) -> None:
    seen(check, docker_daemon)
    values, where = docker_daemon.setting("default-ulimit")
    names = sorted({v.split("=", 1)[0] for v in values})
    missing = sorted(set(profile.docker_daemon.default_ulimits) - set(names))
    judge(check, profile, "default_ulimits", not missing, what="default ulimits",
          expected=f"at least {profile.docker_daemon.default_ulimits}",
          found=f"{names} ({where})" if names else "none set")


@control("DKR-011", title="User namespace remapping is on", severity="medium", section=DAEMON,
         rationale="With userns-remap, root in a container is an unprivileged uid on the host (CIS 2.9).",
         remediation="Set \"userns-remap\": \"default\" (or a dedicated user) with /etc/subuid and /etc/subgid "
         "ranges, and check the services' volume ownership.",
         tags=_cis("2.9", "2.8"), reads=("docker_daemon.userns_remap", "docker_daemon.accepted.userns_remap"))
def test_userns_remap(check: Check, docker_daemon: DockerDaemonFacts, profile: Profile) -> None:
    seen(check, docker_daemon)
    want = profile.docker_daemon.userns_remap
    value, where = docker_daemon.setting("userns-remap")
    on = bool(value)
    if check.observed(docker_daemon.info):  # effective: the daemon lists name=userns when remapping
        on = any("name=userns" in s for s in docker_daemon.info.get("SecurityOptions") or [])  # type: ignore[union-attr]
        where = "docker info SecurityOptions"
    judge(check, profile, "userns_remap", on == want, what="userns-remap", expected="on" if want else "off",
          found=f"{'on' if on else 'off'} ({where if value or on else 'not set'})")


@control("DKR-012", title="Default cgroup parent is Docker's", severity="low", section=DAEMON,
         rationale="A different cgroup parent moves every container's limits under another hierarchy, where "
         "they may share resources unevenly (CIS 2.10).",
         remediation="Remove \"cgroup-parent\" / --cgroup-parent, or name the planned parent in "
         "docker_daemon.cgroup_parent.",
         tags=_cis("2.10", "2.9"), reads=("docker_daemon.cgroup_parent", "docker_daemon.accepted.cgroup_parent"))
def test_cgroup_parent(check: Check, docker_daemon: DockerDaemonFacts, profile: Profile) -> None:
    seen(check, docker_daemon)
    value, where = docker_daemon.setting("cgroup-parent")
    want = profile.docker_daemon.cgroup_parent
    judge(check, profile, "cgroup_parent", (value or None) == want, what="cgroup-parent",
          expected=want or "not set (Docker's default)", found=_where(value, where) if value else "not set")


@control("DKR-013", title="Base device size is not changed", severity="low", section=DAEMON,
         rationale="A larger devicemapper base size applies to every image and container and can over-allocate "
         "the pool (CIS 2.11).",
         remediation="Remove dm.basesize from storage-opts / --storage-opt.",
         tags=_cis("2.11", "2.10"), reads=("+cis", "docker_daemon.accepted.base_device_size"))
def test_base_device_size(check: Check, docker_daemon: DockerDaemonFacts, profile: Profile) -> None:
    seen(check, docker_daemon)
    opts, where = docker_daemon.setting("storage-opt")
    bad = [o for o in opts if "dm.basesize" in o]
    judge(check, profile, "base_device_size", not bad, what="storage-opts dm.basesize", expected="not set",
          found=f"{bad} ({where})" if bad else "not set")


@control("DKR-014", title="An authorization plugin guards the Docker API", severity="medium", section=DAEMON,
         rationale="Without one, whoever reaches the socket may run any command (CIS 2.12).",
         remediation="Deploy an authorization plugin (e.g. opa-docker-authz) and name it in "
         "\"authorization-plugins\".",
         tags=_cis("2.12", "2.11"), reads=("docker_daemon.authorization_plugin", "docker_daemon.accepted.authorization_plugin"))
def test_authorization_plugin(check: Check, docker_daemon: DockerDaemonFacts, profile: Profile) -> None:
    seen(check, docker_daemon)
    if not profile.docker_daemon.authorization_plugin:
        check.not_applicable("the profile does not require an authorization plugin "
                             "(docker_daemon.authorization_plugin)")
    plugins, where = docker_daemon.setting("authorization-plugin")
    if check.observed(docker_daemon.info):  # effective: the plugins the daemon loaded
        plugins = list((docker_daemon.info.get("Plugins") or {}).get("Authorization") or [])  # type: ignore[union-attr]
        where = "docker info Plugins.Authorization"
    judge(check, profile, "authorization_plugin", bool(plugins), what="authorization plugins",
          expected="at least one", found=f"{plugins} ({where})" if plugins else f"none ({where})")


@control("DKR-015", title="Default log driver ships logs centrally and is bounded", severity="medium",
         section=DAEMON,
         rationale="Container logs must leave the host for central storage (CIS 2.13) and never fill its disk. "
         "Differs from docker-bench, which warns on json-file always: here the planned driver passes (the "
         "plan's shipper, Filebeat, reads json-file logs; LOG-0xx check it), with max-size/max-file within "
         "container_policy.log when it is json-file.",
         remediation="Set \"log-driver\" to a planned driver and, for json-file, \"log-opts\": {\"max-size\": ..., "
         "\"max-file\": ...} within container_policy.log.",
         tags=_cis("2.13", "2.12"),
         reads=("docker_daemon.log_drivers", "container_policy.log", "docker_daemon.accepted.log_drivers"))
def test_log_driver(check: Check, docker_daemon: DockerDaemonFacts, profile: Profile) -> None:
    seen(check, docker_daemon)
    if check.observed(docker_daemon.info):
        driver, where = str(docker_daemon.info.get("LoggingDriver") or "?"), "docker info"  # type: ignore[union-attr]
    else:
        value, where = docker_daemon.setting("log-driver")
        driver = str(value or "json-file")
    opts = dict(o.split("=", 1) for o in docker_daemon.setting("log-opt")[0] if "=" in o)
    ok = driver in profile.docker_daemon.log_drivers
    pol = profile.container_policy.log
    if ok and driver == "json-file":
        try:
            size = parse_size(opts["max-size"]) if opts.get("max-size") else None
        except UnitError:
            size = None
        files = int(opts["max-file"]) if str(opts.get("max-file", "")).isdigit() else None
        ok = size is not None and size <= pol.max_size and files is not None and files <= pol.max_file
    judge(check, profile, "log_drivers", ok, what="default logging",
          expected=f"one of {profile.docker_daemon.log_drivers}; json-file with max-size <= "
                   f"{format_size(pol.max_size)}, max-file <= {pol.max_file}",
          found=f"{driver} ({where}), max-size {opts.get('max-size', 'unset')}, max-file {opts.get('max-file', 'unset')}")


@control("DKR-016", title="Containers cannot gain new privileges (daemon-wide)", severity="high", section=DAEMON,
         rationale="no-new-privileges by default stops setuid binaries and file capabilities from raising a "
         "process's privileges in any container, also one started without the platform's options (CIS 2.14; "
         "CT-010 checks each planned container).",
         remediation="Set \"no-new-privileges\": true in daemon.json.",
         tags=_cis("2.14"), reads=("docker_daemon.no_new_privileges", "docker_daemon.accepted.no_new_privileges"))
def test_no_new_privileges(check: Check, docker_daemon: DockerDaemonFacts, profile: Profile) -> None:
    judge_flag(check, docker_daemon, profile, "no_new_privileges", "no-new-privileges", default=False)


@control("DKR-017", title="Live restore is on", severity="medium", section=DAEMON,
         rationale="With live-restore, containers keep running while dockerd restarts or is upgraded (CIS 2.15); "
         "it is incompatible with swarm mode only (passed there, as docker-bench does).",
         remediation="Set \"live-restore\": true in daemon.json and reload dockerd (SIGHUP).",
         tags=_cis("2.15", "2.14"), reads=("docker_daemon.live_restore", "docker_daemon.accepted.live_restore"))
def test_live_restore(check: Check, docker_daemon: DockerDaemonFacts, profile: Profile) -> None:
    seen(check, docker_daemon)
    want = profile.docker_daemon.live_restore
    if check.observed(docker_daemon.info):
        info = docker_daemon.info  # effective: what the daemon runs with
        on, said = bool(info.get("LiveRestoreEnabled")), "docker info"  # type: ignore[union-attr]
        swarm = ((info.get("Swarm") or {}).get("LocalNodeState") or "inactive")  # type: ignore[union-attr]
        if not on and swarm == "active":
            check.equal(swarm, "active", what="swarm mode (live restore is incompatible with it)")
            return
        said = f"{str(on).lower()} ({said})"
    else:
        on, said = _bool(docker_daemon, "live-restore", False)
    judge(check, profile, "live_restore", on == want, what="live-restore", expected=str(want).lower(), found=said)


@control("DKR-018", title="Userland proxy is off", severity="low", section=DAEMON,
         rationale="Published ports are forwarded by iptables NAT; the docker-proxy processes are extra attack "
         "surface (CIS 2.16). Live, a running docker-proxy process fails it too.",
         remediation="Set \"userland-proxy\": false in daemon.json and restart dockerd (check that ports "
         "published on 127.0.0.1 still answer: hairpin NAT).",
         tags=_cis("2.16", "2.18"), reads=("docker_daemon.userland_proxy", "docker_daemon.accepted.userland_proxy"))
def test_userland_proxy(check: Check, docker_daemon: DockerDaemonFacts, profile: Profile) -> None:
    seen(check, docker_daemon)
    want = profile.docker_daemon.userland_proxy
    on, said = _bool(docker_daemon, "userland-proxy", True)
    if check.observed(docker_daemon.proxy_processes) and not want:
        n = docker_daemon.proxy_processes
        said += f", {n} docker-proxy process(es) running"
        on = on or bool(n)
    judge(check, profile, "userland_proxy", on == want, what="userland-proxy", expected=str(want).lower(), found=said)


@control("DKR-019", title="A daemon-wide seccomp profile applies", severity="high", section=DAEMON,
         rationale="The daemon's seccomp profile (Docker's default or a custom one) is every container's syscall "
         "filter unless it opts out (CIS 2.17; CT-021 checks each container).",
         remediation="Remove \"seccomp-profile\": \"unconfined\"; name a custom profile only if it is stricter.",
         tags=_cis("2.17", "2.20"), reads=("docker_daemon.seccomp", "docker_daemon.accepted.seccomp"))
def test_seccomp(check: Check, docker_daemon: DockerDaemonFacts, profile: Profile) -> None:
    seen(check, docker_daemon)
    if not profile.docker_daemon.seccomp:
        check.not_applicable("the profile does not require a daemon-wide seccomp profile (docker_daemon.seccomp)")
    if check.observed(docker_daemon.info):
        opts = [s for s in docker_daemon.info.get("SecurityOptions") or [] if "name=seccomp" in s]  # type: ignore[union-attr]
        ok = bool(opts) and not any("profile=unconfined" in s for s in opts)
        found = f"{opts or 'no seccomp'} (docker info SecurityOptions)"
    else:
        value, where = docker_daemon.setting("seccomp-profile")
        ok = str(value or "default") != "unconfined"
        found = _where(value, where) if value else "Docker's default profile (not set)"
    judge(check, profile, "seccomp", ok, what="daemon seccomp profile", expected="default or custom, not unconfined",
          found=found)


@control("DKR-020", title="Experimental features are off", severity="low", section=DAEMON,
         rationale="Experimental features have no API stability or security review (CIS 2.18).",
         remediation="Remove \"experimental\": true / --experimental.",
         tags=_cis("2.18", "2.21"), reads=("docker_daemon.experimental", "docker_daemon.accepted.experimental"))
def test_experimental(check: Check, docker_daemon: DockerDaemonFacts, profile: Profile) -> None:
    seen(check, docker_daemon)
    want = profile.docker_daemon.experimental
    if check.observed(docker_daemon.experimental):
        on, said = bool(docker_daemon.experimental), f"{str(docker_daemon.experimental).lower()} (docker version)"
    else:
        on, said = _bool(docker_daemon, "experimental", False)
    judge(check, profile, "experimental", on == want, what="experimental", expected=str(want).lower(), found=said)


# --- 3. daemon configuration files ---------------------------------------------------------------
@control("DKR-021", title="Daemon files and sockets have safe owners and modes", severity="high", section=FILES,
         rationale="Whoever can write the daemon's units, configuration, certificates or socket controls the "
         "daemon, hence the host (CIS 3.1-3.24). A file that is not on the host is skipped (docker-bench: INFO). "
         "Modes are compared bit by bit (docker-bench compares the octal digits as a number: 622 passes there, "
         "not here).",
         remediation="chown and chmod the file as expected (e.g. chown root:docker /var/run/docker.sock; "
         "chmod 660 /var/run/docker.sock).",
         tags=_cis("3.1,3.2,3.3,3.4,3.5,3.6,3.7,3.8,3.9,3.10,3.11,3.12,3.13,3.14,3.15,3.16,3.17,3.18,3.19,3.20,"
                   "3.21,3.22,3.23,3.24", "3.1,3.2,3.3,3.4,3.5,3.6,3.7,3.8,3.9,3.10,3.11,3.12,3.13,3.14,3.15,3.16,"
                   "3.17,3.18,3.19,3.20"),
         reads=("docker_daemon.files.{docker_file}", "docker_daemon.accepted.files"))
def test_daemon_file(check: Check, docker_daemon: DockerDaemonFacts, profile: Profile, docker_file: str) -> None:
    rule = profile.docker_daemon.files[docker_file]
    stats = check.fact(docker_daemon.files).get(docker_file, [])
    if not stats:
        not_here(f"{docker_file}: not on this host")
    owner = f"{rule.owner}:{rule.group}" if rule.group else rule.owner
    bad = [f"{s.path} {s.owner}:{s.group} {s.mode}" for s in stats
           if s.owner != rule.owner or (rule.group and s.group != rule.group) or mode_beyond(s.mode, rule.max_mode)]
    judge(check, profile, "files", not bad, what=docker_file, expected=f"{owner}, mode {rule.max_mode} or stricter",
          found=bad or [f"{s.path} {s.owner}:{s.group} {s.mode}" for s in stats])
