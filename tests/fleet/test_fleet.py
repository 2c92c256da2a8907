"""A fleet audit (target.fleet: an Ansible inventory) over three hosts made here: network namespaces
with their own sshd (tests/fleet/lab.py). Host facts come through testinfra's ansible backend; the
per-host Docker source through ssh:// where the role runs Docker.

fleet-1 and fleet-2 are `ai_hosts` (docker: false: their container facts are absent, skipped with
that reason); fleet-3 is `docker_hosts` (docker: true, but no engine answers there: an error).
The hosts share this machine's files; what differs per host is its network: the planned uplink
`pcup0` (hardware.network.interfaces of the lab profile) is taken down on fleet-2 only.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.audit import ROOT
from tests.fleet.lab import FleetLab

SELECT = "test_hardware or test_no_unplanned_containers"  # the host-level controls
HOSTS = ("fleet-1", "fleet-2", "fleet-3")


@pytest.fixture(scope="module")
def lab() -> Iterator[FleetLab]:
    with FleetLab(3, groups={"ai_hosts": [1, 2], "docker_hosts": [3]}) as lab:
        (lab.dir / "fleet.yaml").write_text(
            f"extends: {ROOT / 'profiles' / 'baseline.yaml'}\n"
            "name: fleet-lab\n"
            "hardware: {network: {speed: null, interfaces: [pcup0]}}\n"
            "target:\n"
            "  fleet:\n"
            f"    inventory: {lab.inventory}\n"
            "    groups: {ai_hosts: {docker: false}, docker_hosts: {docker: true}}\n")
        yield lab


def audit(lab: FleetLab, *args: str) -> tuple[int, dict[str, Any], str, Path]:
    lab.write_inventory()  # fresh ssh ControlPath: this run's connections are its own
    reports = lab.dir / f"rep{lab.runs}"
    r = subprocess.run([sys.executable, "-m", "pytest", f"--profile={lab.dir / 'fleet.yaml'}", "-p", "no:cacheprovider",
                        "-q", "-k", SELECT, "--reports-dir", str(reports), *args],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    found = sorted(reports.glob("*/results.json"))
    assert found, f"no results.json: {r.stdout[-2000:]} {r.stderr[-2000:]}"
    return r.returncode, json.loads(found[-1].read_text()), r.stdout, found[-1].parent


def outcomes(doc: dict[str, Any]) -> dict[str, str]:
    return {c["nodeid"]: c["outcome"] for c in doc["checks"]}


@pytest.fixture(scope="module")
def clean(lab: FleetLab) -> tuple[int, dict[str, Any], str, Path]:
    return audit(lab)


def test_each_host_level_check_runs_per_host(clean: tuple[int, dict[str, Any], str, Path]) -> None:
    _, doc, out, run_dir = clean
    by = outcomes(doc)
    for host in HOSTS:  # every host-level control, once per host, the host in its id
        assert f"checks/test_hardware.py::test_memory[host={host}]" in by
        assert f"checks/test_hardware.py::test_nic_speed[host={host}-pcup0]" in by
        assert by[f"checks/test_hardware.py::test_nic_speed[host={host}-pcup0]"] == "passed"
        assert by[f"checks/test_hardware.py::test_memory[host={host}]"] in ("passed", "failed")
    assert all("[host=" in n for n in by), "a check outside the fleet selection ran"
    # the Docker source per role: absent where the profile says the role runs none, an error where it
    # should answer and does not
    ct = {c["nodeid"]: c for c in doc["checks"] if "test_no_unplanned_containers" in c["nodeid"]}
    for host in ("fleet-1", "fleet-2"):
        rec = ct[f"checks/test_containers.py::test_no_unplanned_containers[host={host}]"]
        assert (rec["outcome"], rec["skip_kind"]) == ("skipped", "here")
        assert "group ai_hosts runs no Docker" in rec["message"]
    rec = ct["checks/test_containers.py::test_no_unplanned_containers[host=fleet-3]"]
    assert rec["outcome"] == "error"
    assert "cannot reach the docker engine at ssh://root@203.0.113.203:22 (fleet-3, group docker_hosts)" in rec["message"]
    # per-host summary: results.json, the terminal, report.html
    hosts = doc["hosts"]
    assert list(hosts) == list(HOSTS)
    assert hosts["fleet-3"]["group"] == "docker_hosts" and hosts["fleet-3"]["error"] == 1
    assert hosts["fleet-1"]["docker"] is None and hosts["fleet-3"]["docker"] == "ssh://root@203.0.113.203:22"
    for host, h in hosts.items():
        mine = [c for c in doc["checks"] if f"[host={host}" in c["nodeid"]]
        assert h["total"] == len(mine) == 7
        assert sum(h[k] for k in ("passed", "failed", "waived", "skipped", "error")) == h["total"]
        assert f"host {host} ({h['group']}): {h['total']} checks, {h['passed']} passed" in out
    assert 'id="hosts"' in (run_dir / "report.html").read_text()
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(doc, json.loads((ROOT / "docs" / "results.schema.json").read_text()))
    # one reading of the host facts per host, each from its host (its own UTS namespace)
    assert {f"host@{h}" for h in HOSTS} <= set(doc["sources"])


def test_one_hosts_mutation_fails_only_that_hosts_check(lab: FleetLab, clean: tuple[int, dict[str, Any], str, Path]) -> None:
    before = outcomes(clean[1])
    lab.set_uplink(2, up=False)
    try:
        _, doc, _, _ = audit(lab)
    finally:
        lab.set_uplink(2, up=True)
    after = outcomes(doc)
    changed = {n: (before[n], after[n]) for n in before if after.get(n) != before[n]}
    assert changed == {"checks/test_hardware.py::test_nic_speed[host=fleet-2-pcup0]": ("passed", "failed")}
    rec = next(c for c in doc["checks"] if c["nodeid"].endswith("test_nic_speed[host=fleet-2-pcup0]"))
    assert rec["control"] == "HW-005" and "lowerlayerdown" in rec["found"]
    assert doc["hosts"]["fleet-2"]["failed"] == 1
    assert doc["hosts"]["fleet-1"]["failed"] == doc["hosts"]["fleet-3"]["failed"] == clean[1]["hosts"]["fleet-1"]["failed"]


def test_xdist_spreads_hosts_and_reads_each_once(lab: FleetLab, clean: tuple[int, dict[str, Any], str, Path]) -> None:
    logins = [lab.accepted(i) for i in (1, 2, 3)]
    _, doc, out, _ = audit(lab, "-n", "2")
    assert outcomes(doc) == outcomes(clean[1])
    assert doc["hosts"] == clean[1]["hosts"]
    # each host read by one worker over one ssh connection (the run's own ControlPath)
    assert [lab.accepted(i) - logins[i - 1] for i in (1, 2, 3)] == [1, 1, 1]


def test_unreachable_host_is_an_error_for_its_checks_only(lab: FleetLab, clean: tuple[int, dict[str, Any], str, Path]) -> None:
    lab.procs[1].terminate()  # fleet-1's sshd stops answering (last test of the module: not restored)
    lab.procs[1].wait(10)
    _, doc, _, _ = audit(lab)
    before, after = outcomes(clean[1]), outcomes(doc)
    changed = {n for n in before if after[n] != before[n]}
    fleet1 = {n for n in before if "test_hardware.py" in n and "[host=fleet-1" in n}  # they read fleet-1's host facts
    assert changed == fleet1
    assert all(after[n] == "error" for n in fleet1)
    assert doc["hosts"]["fleet-1"]["error"] == len(fleet1)
    msg = next(c["message"] for c in doc["checks"] if c["nodeid"].endswith("test_memory[host=fleet-1]"))
    assert "ansible://fleet-1" in msg and "203.0.113.201" in msg, msg
