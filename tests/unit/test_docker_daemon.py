"""DKR-0xx (the Docker host and daemon, CIS Docker Benchmark sections 1-3) on recorded facts
(tests/data/good/docker_daemon.json) and the desired daemon.json, and the readers' parsers."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from plancheck.facts.docker_daemon import (
    DockerDaemonFacts, mode_beyond, parse_cmdline, parse_group, parse_mountinfo, resolve_paths, watches,
)
from tests.audit import ROOT, load_good_facts, mutate, run_audit

GOOD = load_good_facts()
SELECT = ["-k", "test_docker_daemon.py"]
Facts = dict[str, Any]
# the deviations profiles/baseline.yaml accepts, withdrawn: each control must fail on its broken fact
STRICT = {"extends": str(ROOT / "profiles/baseline.yaml"),
          "docker_daemon": {"accepted": {"separate_partition": None, "audit_watches": None,
                                         "userns_remap": None, "authorization_plugin": None}}}


def conf(**changes: Any) -> Callable[[Facts], None]:
    def apply(f: Facts) -> None:
        f["docker_daemon"]["config"].update({k.replace("_", "-"): v for k, v in changes.items()})
    return apply


def info(**changes: Any) -> Callable[[Facts], None]:
    return lambda f: f["docker_daemon"]["info"].update(changes)


def facts(**changes: Any) -> Callable[[Facts], None]:
    return lambda f: f["docker_daemon"].update(changes)


def drop_rule(path: str) -> Callable[[Facts], None]:
    def apply(f: Facts) -> None:
        rules = f["docker_daemon"]["audit"]["rules"]
        rules[:] = [r for r in rules if f" {path} " not in f" {r} "]
    return apply


def drop_config(key: str) -> Callable[[Facts], None]:
    return lambda f: f["docker_daemon"]["config"].pop(key)


def socket_mode(mode: str) -> Callable[[Facts], None]:
    return lambda f: f["docker_daemon"]["files"]["docker.sock"][0].update(mode=mode)


CASES: dict[str, Callable[[Facts], None]] = {
    "DKR-001": lambda f: f["docker_daemon"]["root_mount"].update(device="254:0", source="/dev/vda"),
    "DKR-002": facts(docker_group=["alice"]),
    "DKR-003": drop_rule("/usr/sbin/dockerd"),
    "DKR-004": conf(icc=True),
    "DKR-005": facts(cmdline=["dockerd", "-l", "debug"]),
    "DKR-006": conf(iptables=False),
    "DKR-007": conf(insecure_registries=["registry.local:5000"]),
    "DKR-008": info(Driver="aufs"),
    "DKR-009": facts(cmdline=["dockerd", "-H", "tcp://0.0.0.0:2375", "-H", "unix:///var/run/docker.sock"]),
    "DKR-010": drop_config("default-ulimits"),
    "DKR-011": info(SecurityOptions=["name=seccomp,profile=default"]),
    "DKR-012": conf(cgroup_parent="/unplanned"),
    "DKR-013": conf(storage_opts=["dm.basesize=20G"]),
    "DKR-014": lambda f: f["docker_daemon"]["info"]["Plugins"].update(Authorization=None),
    "DKR-015": lambda f: f["docker_daemon"]["config"].update({"log-opts": {"max-size": "1g", "max-file": "3"}}),
    "DKR-016": conf(no_new_privileges=False),
    "DKR-017": info(LiveRestoreEnabled=False),
    "DKR-018": facts(proxy_processes=2),  # userland-proxy false in daemon.json, yet docker-proxy runs
    "DKR-019": info(SecurityOptions=["name=userns"]),
    "DKR-020": facts(experimental=True),
    "DKR-021": socket_mode("666"),
}


@pytest.fixture
def strict(tmp_path: Path) -> str:
    child = tmp_path / "strict.yaml"
    child.write_text(yaml.safe_dump(STRICT))
    return str(child)


def test_good_docker_daemon_facts_pass(tmp_path: Path, strict: str) -> None:
    res = run_audit(tmp_path, strict, facts=GOOD, args=SELECT)
    assert res.failed == set() and res.errors == set(), [c["message"] for c in res.items("failed") + res.items("error")]
    assert set(CASES) <= res.passed, sorted(set(CASES) - res.passed)


@pytest.mark.parametrize("control", [pytest.param(c, marks=pytest.mark.breaks(c), id=c) for c in sorted(CASES)])
def test_docker_daemon_control_fails_on_its_broken_fact(tmp_path: Path, strict: str, control: str) -> None:
    res = run_audit(tmp_path, strict, facts=mutate(GOOD, CASES[control]), args=SELECT)
    assert res.failed == {control}, [c["message"] for c in res.items("failed")]
    assert res.errors == set(), [c["message"] for c in res.items("error")]
    failed = res.items("failed")
    assert all(c["message"].startswith(control) and c["expected"] and c["found"] for c in failed)
    assert all(any(t.startswith("docker-bench-1.6:") for t in c["tags"]) for c in failed)


def test_baseline_accepts_its_stated_deviations(tmp_path: Path) -> None:
    """On the baseline's host facts (one disk, no auditd, no userns-remap), the deviations the profile
    accepts are skipped with their reason and what was found, and said to be the profile's doing."""
    broken = mutate(GOOD, lambda f: [CASES[c](f) for c in ("DKR-001", "DKR-003", "DKR-011")])
    res = run_audit(tmp_path, "baseline", facts=broken, args=SELECT)
    assert res.failed == set() and res.errors == set()
    accepted = [c for c in res.items("skipped") if "accepted deviation" in c["message"]]
    assert {c["control"] for c in accepted} == {"DKR-001", "DKR-003", "DKR-011"}
    assert all(c["skip_kind"] == "profile" and c["basis"] == "override" and "found" in c["message"] for c in accepted)
    # a control whose value the baseline does not change keeps the profile's own basis
    assert {c["basis"] for c in res.checks if c["control"] == "DKR-004"} == {"addition"}


def test_unreadable_dockerd_command_line_is_an_error(tmp_path: Path, strict: str) -> None:
    gone = {"__unavailable__": True, "reason": "no dockerd process visible in /proc", "kind": "unknown"}
    res = run_audit(tmp_path, strict, facts=mutate(GOOD, facts(cmdline=gone)), args=SELECT)
    assert res.failed == set() and "DKR-004" in res.errors and "DKR-016" in res.errors
    assert "DKR-021" in res.passed  # the files are observed apart from the command line


@pytest.mark.parametrize("profile", ["baseline", "prod"])
def test_desired_daemon_json_passes(tmp_path: Path, profile: str) -> None:
    res = run_audit(tmp_path, profile, static=True, args=SELECT)
    assert res.failed == set() and res.errors == set(), [c["message"] for c in res.items("failed")]
    assert {"DKR-004", "DKR-015", "DKR-016", "DKR-017", "DKR-018"} <= res.passed
    # host facts have no desired state: skipped as not observable statically
    assert {c["skip_kind"] for c in res.checks if c["control"] in ("DKR-001", "DKR-021")} == {"here"}


# --- parsers ---------------------------------------------------------------------------------------
def test_parse_cmdline() -> None:
    flags = parse_cmdline(["/usr/sbin/dockerd", "-H", "fd://", "--host=tcp://0.0.0.0:2376", "--icc=false",
                           "--live-restore", "-l", "warn", "--config-file", "/etc/docker/daemon.json", "-D"])
    assert flags["host"] == ["fd://", "tcp://0.0.0.0:2376"] and flags["icc"] == ["false"]
    assert flags["live-restore"] == ["true"] and flags["log-level"] == ["warn"] and flags["debug"] == ["true"]
    assert flags["config-file"] == ["/etc/docker/daemon.json"]


def test_setting_prefers_command_line_and_collects_lists() -> None:
    f = DockerDaemonFacts(config_path="/etc/docker/daemon.json", cmdline=["dockerd", "--icc=true", "-H", "fd://"],
                          config={"icc": False, "hosts": ["unix:///var/run/docker.sock"], "live-restore": True})
    assert f.setting("icc") == (True, "dockerd command line")
    assert f.setting("live-restore") == (True, "/etc/docker/daemon.json")
    assert f.setting("host")[0] == ["fd://", "unix:///var/run/docker.sock"]
    assert f.setting("userns-remap") == (None, "not set")


MOUNTINFO = """27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
42 27 254:0 /var/lib/docker /var/lib/docker rw,relatime shared:1 - ext4 /dev/vda rw
62 42 0:39 / /var/lib/docker/overlay2/x/merged rw,relatime - overlay overlay rw
"""


def test_parse_mountinfo_bind_mount_of_root_is_not_separate() -> None:
    m = parse_mountinfo(MOUNTINFO, "/var/lib/docker")
    assert m.mount_point == "/var/lib/docker" and m.source == "/dev/vda" and not m.separate
    own = parse_mountinfo(MOUNTINFO.replace("42 27 254:0 /var/lib/docker", "42 27 254:16 /"), "/var/lib/docker")
    assert own.separate and own.fs_root == "/"
    assert not parse_mountinfo(MOUNTINFO.splitlines()[0], "/var/lib/docker").separate  # on / itself


def test_audit_rules_match_exact_paths() -> None:
    rules = ["-w /usr/bin/dockerd -p wa -k docker", "-a exit,always -F path=/run/containerd -F perm=war -k docker",
             "-w /var/lib/docker/volumes -k docker"]
    assert watches(rules, "/usr/bin/dockerd") and watches(rules, "/run/containerd")
    assert not watches(rules, "/var/lib/docker")  # docker-bench's grep would accept the subdirectory


def test_mode_beyond_compares_bits() -> None:
    assert mode_beyond("644", "644") == 0 and mode_beyond("600", "644") == 0 and mode_beyond("400", "444") == 0
    assert mode_beyond("622", "644") == 0o022  # numerically <= 644 (docker-bench passes it)
    assert mode_beyond("1777", "755") and mode_beyond("664", "660") == 0o004


def test_parse_group_and_binary_paths() -> None:
    assert parse_group("root:x:0:\ndocker:x:105:alice,bob\n") == ["alice", "bob"]
    assert parse_group("docker:x:105:\n") == [] and parse_group("root:x:0:\n") is None
    paths = resolve_paths(["/usr/bin/dockerd", "/etc/docker"], {}, {}, "", exists=lambda p: p != "/usr/bin/dockerd",
                          which=lambda name: "/usr/sbin/dockerd")
    assert paths == {"/usr/bin/dockerd": "/usr/sbin/dockerd", "/etc/docker": "/etc/docker"}
