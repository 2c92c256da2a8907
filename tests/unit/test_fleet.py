"""target.fleet without hosts: the model, the inventory as Ansible reads it, per-host source names,
the xdist grouping, the per-host summary and its report forms, the one-round-trip host reader.
(The fleet over real sshd hosts: tests/fleet/test_fleet.py.)"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from plancheck import fleet, gathering
from plancheck.profile import ProfileError, load_profile
from plancheck.profile.models import Fleet

ROOT = Path(__file__).resolve().parents[2]


def test_groups_as_a_list_or_with_roles() -> None:
    assert Fleet.model_validate({"inventory": "i.ini", "groups": ["ai_hosts"]}).groups["ai_hosts"].docker is True
    f = Fleet.model_validate({"inventory": "i.ini", "groups": {"bastions": {"docker": False}}})
    assert f.groups["bastions"].docker is False
    with pytest.raises(ValueError):
        Fleet.model_validate({"inventory": "i.ini", "groups": []})
    with pytest.raises(ValueError):
        Fleet.model_validate({"inventory": "i.ini", "groups": {"a": {"dockr": True}}})


def test_prod_and_baseline_name_no_fleet() -> None:
    for name in ("prod", "baseline"):
        assert load_profile(name, ROOT / "profiles").target.fleet is None


def test_a_fleet_profile_loads(tmp_path: Path) -> None:
    p = tmp_path / "f.yaml"
    p.write_text(f"extends: {ROOT / 'profiles' / 'baseline.yaml'}\nname: f\n"
                 "target: {fleet: {inventory: hosts.ini, groups: {ai_hosts: {docker: false}}}}\n")
    assert load_profile(str(p), ROOT / "profiles").target.fleet.groups["ai_hosts"].docker is False  # type: ignore[union-attr]
    p.write_text(f"extends: {ROOT / 'profiles' / 'baseline.yaml'}\nname: f\ntarget: {{fleet: {{groups: [a]}}}}\n")
    with pytest.raises(ProfileError) as e:
        load_profile(str(p), ROOT / "profiles")
    assert any("inventory" in line for line in e.value.lines)


def _ansible() -> None:
    fleet._ensure_ansible_on_path()
    if not shutil.which("ansible-inventory"):
        pytest.skip("ansible-core not installed (pip install -e '.[fleet]')")


def test_members_from_an_inventory(tmp_path: Path) -> None:
    _ansible()
    inv = tmp_path / "hosts.ini"
    inv.write_text("[ai_hosts]\nai-1 ansible_host=192.0.2.11\nai-2 ansible_host=192.0.2.12 ansible_port=2222\n"
                   "[bastions]\nai-2\nbastion ansible_host=192.0.2.20\n[all:vars]\nansible_user=audit\n")
    profile = load_profile("baseline", ROOT / "profiles")
    fl = Fleet.model_validate({"inventory": str(inv), "groups": {"ai_hosts": {}, "bastions": {"docker": False}}})
    profile = profile.model_copy(update={"target": profile.target.model_copy(update={"fleet": fl})})
    ms = fleet.members(profile, ROOT)
    assert [(m.name, m.group, m.docker) for m in ms] == [("ai-1", "ai_hosts", True), ("ai-2", "ai_hosts", True),
                                                          ("bastion", "bastions", False)]
    assert ms[1].docker_url == "ssh://audit@192.0.2.12:2222" and ms[2].docker_url == ""
    assert ms[0].testinfra == f"ansible://ai-1?ansible_inventory={inv}"
    bad = Fleet.model_validate({"inventory": str(inv), "groups": ["gpu_hosts"]})
    with pytest.raises(fleet.FleetError, match="gpu_hosts: no such group"):
        fleet.members(profile.model_copy(update={"target": profile.target.model_copy(update={"fleet": bad})}), ROOT)
    gone = Fleet.model_validate({"inventory": str(tmp_path / "nope.ini"), "groups": ["a"]})
    with pytest.raises(fleet.FleetError, match="no such inventory file"):
        fleet.members(profile.model_copy(update={"target": profile.target.model_copy(update={"fleet": gone})}), ROOT)


def test_per_host_source_names() -> None:
    assert fleet.scoped("host", "ai-1") == "host@ai-1" and fleet.scoped("host", None) == "host"
    assert fleet.split("host@ai-1") == ("host", "ai-1") and fleet.split("mariadb") == ("mariadb", None)

    def item(host: str | None, *fixtures: str) -> Any:
        return SimpleNamespace(fixturenames=list(fixtures),
                               callspec=SimpleNamespace(params={fleet.HOST_PARAM: host} if host else {}))

    import fixtures.facts  # noqa: F401  (registers the fixtures' sources)
    import fixtures.hardware  # noqa: F401

    names = gathering.needed([item("ai-1", "host_facts"), item("ai-2", "host_facts", "containers"),
                              item(None, "containers"), item(None, "host_facts")])
    assert names == ["containers", "host", "containers@ai-2", "host@ai-1", "host@ai-2"]


def test_host_summary_and_its_reports(tmp_path: Path) -> None:
    from plancheck.plugin import host_summary
    from plancheck.report.html import render_html
    from plancheck.results import Record

    m = [fleet.Member("ai-1", "ai_hosts", False, "ansible://ai-1", "", "192.0.2.11"),
         fleet.Member("ai-2", "ai_hosts", True, "ansible://ai-2", "ssh://a@192.0.2.12", "192.0.2.12")]
    recs = [Record(nodeid="t::a[host=ai-1]", outcome="passed"), Record(nodeid="t::a[host=ai-2]", outcome="failed"),
            Record(nodeid="t::b[host=ai-2]", outcome="error"), Record(nodeid="t::c", outcome="passed")]
    state = SimpleNamespace(fleet=m, host_of={r.nodeid: r.nodeid.split("host=")[1][:-1] for r in recs if "host=" in r.nodeid})
    hosts = host_summary(state, recs)  # type: ignore[arg-type]
    assert hosts["ai-1"] == {"group": "ai_hosts", "address": "192.0.2.11", "docker": None, "passed": 1, "failed": 0,
                             "waived": 0, "skipped": 0, "error": 0, "total": 1}
    assert (hosts["ai-2"]["failed"], hosts["ai-2"]["error"], hosts["ai-2"]["docker"]) == (1, 1, "ssh://a@192.0.2.12")
    doc = {"run": {"tool": "plancheck", "profile": "f", "plan": "", "mode": "live", "recorded_facts": "",
                   "started": "2026-01-01T00:00:00Z", "duration_s": 1.0, "fail_on": "low", "target": "",
                   "exit_status": 1, "errors": [], "notes": []},
           "summary": {"passed": 2, "failed": 1, "skipped": 0, "waived": 0, "error": 1, "total": 4, "observed": 3},
           "checks": [r.as_dict() for r in recs], "hosts": hosts}
    html = render_html(doc)
    assert 'id="hosts"' in html and "ai-2" in html
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "docs" / "results.schema.json").read_text())
    jsonschema.validate({k: v for k, v in doc.items()}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**doc, "hosts": {"ai-1": {**hosts["ai-1"], "extra": 1}}}, schema)


def test_batched_host_reader_answers_as_the_host_does() -> None:
    testinfra = pytest.importorskip("testinfra")
    from plancheck.facts.host import Batched

    host = testinfra.get_host("local://")
    cmds = ["printf 'a\\n\\n'", "hostname", "test -e /nonexistent-plancheck", "cat /nonexistent-plancheck",
            "echo out; echo err >&2; exit 3"]
    b = Batched(host, cmds)
    assert set(b.answers) == set(cmds)
    for c in cmds:
        got, want = b.answers[c], host.run(c)
        assert (got.rc, got.stdout, got.stderr.strip()) == (want.rc, want.stdout, want.stderr.strip()), c
    assert b.run("echo not batched").stdout == "not batched\n"


def test_xdist_keeps_a_hosts_checks_together() -> None:
    pytest.importorskip("xdist")
    from plancheck import plugin

    state = SimpleNamespace(fleet=[fleet.Member("fleet-1", "g", False, "", ""), fleet.Member("fleet-10", "g", False, "", "")])
    config = SimpleNamespace(stash={plugin.STATE: state}, getvalue=lambda k: "load",
                             option=SimpleNamespace(), getoption=lambda *a, **k: None)
    try:
        sched = plugin.pytest_xdist_make_scheduler(config, None)  # type: ignore[arg-type]
    except Exception as e:  # xdist's scheduler wants more of a config than this stand-in has
        pytest.skip(f"xdist scheduler needs a real config: {e}")
    split = sched._split_scope
    assert split("checks/test_hardware.py::test_memory[host=fleet-1]") == "host=fleet-1"
    assert split("checks/test_hardware.py::test_disk[host=fleet-10-0]") == "host=fleet-10"
    assert split("checks/test_containers.py::test_no_unplanned_containers[host=fleet-1]") == "host=fleet-1"
    assert split("checks/test_tls.py::test_tls[gateway]") == "checks/test_tls.py"
