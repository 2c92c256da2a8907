"""Host facts (testinfra: cpuinfo, meminfo, lsblk, NIC speed) and the HW-0xx controls on recorded facts."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from checks.test_hardware import approx_size, match_disks
from plancheck.facts.base import Context, FactError, NoSource
from plancheck.facts.host import (BlockDevice, HostFacts, HostSource, parse_cpuinfo, parse_lsblk, parse_meminfo,
                                  parse_speed)
from plancheck.profile import load_profile
from plancheck.profile.models import Disk
from tests.audit import ROOT, run_audit
from tests.unit.test_gpu import SELECT, failed_ids, items, profile_file

TB = 10**12  # disks are sold in decimal terabytes


def good_host() -> dict[str, Any]:
    return {"source": "testinfra local://", "hostname": "ai-01", "cpu_vendor": "Intel",
            "cpu_model": "Intel(R) Xeon(R) Gold 6430", "cpus": 64, "cores": 32, "sockets": 1,
            "memory_total": 263_711_864 * 1024,  # MemTotal of a 256 GiB server
            "disks": [{"name": "nvme0n1", "transport": "nvme", "size": 4 * TB, "type": "disk",
                       "model": "SAMSUNG MZQL23T8HCLS"},
                      {"name": "sda", "transport": "sata", "size": 480 * 10**9, "type": "disk", "model": "boot"}],
            "nics": {"default-route": {"present": True, "speed": 10000, "operstate": "up", "device": "eno1"}},
            "virtualization": [],
            "virt_probes": ["systemd-detect-virt: none", "cpuinfo flags: no hypervisor flag",
                            "DMI: Dell Inc. PowerEdge R760"]}


def audit(tmp_path: Path, host: dict[str, Any], profile: str = "prod") -> Any:
    return run_audit(tmp_path, profile, facts={"host": host}, args=SELECT)


def test_good_host_passes(tmp_path: Path) -> None:
    res = audit(tmp_path, good_host())
    assert failed_ids(res) == set()
    passed = {c["control"] for c in res.checks if c["outcome"] == "passed" and c["control"].startswith("HW-")}
    assert passed == {"HW-001", "HW-002", "HW-003", "HW-004", "HW-005", "HW-006"}
    nic = next(c for c in res.checks if c["control"] == "HW-005")
    assert "default-route (eno1)" in nic["found"]  # prod names the uplink by its role


HOST_CASES: list[tuple[dict[str, Any], str]] = [
    ({"cpu_vendor": "AMD", "cpu_model": "AMD EPYC 9354 32-Core Processor"}, "HW-001"),
    ({"cpu_model": "Intel(R) Core(TM) i9-13900K"}, "HW-001"),  # Intel, but not a Xeon
    ({"cpu_model": "Intel(R) Xeon(R) E-2388G"}, "HW-001"),  # a Xeon, but not a Scalable one
    ({"virtualization": ["systemd-detect-virt says kvm", "the CPU reports the hypervisor flag"],
      "virt_probes": ["systemd-detect-virt: kvm", "cpuinfo flags: hypervisor", "DMI: QEMU Standard PC"]}, "HW-006"),
    ({"memory_total": 128 * 2**30}, "HW-003"),
    ({"disks": [{"name": "sda", "transport": "sata", "size": 4 * TB, "type": "disk"}]}, "HW-004"),  # SATA, not NVMe
    ({"disks": [{"name": "nvme0n1", "transport": "nvme", "size": 2 * TB, "type": "disk"}]}, "HW-004"),  # too small
    ({"disks": []}, "HW-004"),
]


@pytest.mark.parametrize("change,control", [pytest.param(*c, marks=pytest.mark.breaks(c[1])) for c in HOST_CASES])
def test_host_fact_wrong(tmp_path: Path, change: dict[str, Any], control: str) -> None:
    res = audit(tmp_path, {**good_host(), **change})
    assert failed_ids(res) == {control}


def test_disk_message_names_what_was_found(tmp_path: Path) -> None:
    res = audit(tmp_path, {**good_host(), "disks": [{"name": "nvme0n1", "transport": "nvme", "size": 2 * TB,
                                                     "type": "disk"}]})
    msg = next(c["message"] for c in res.checks if c["control"] == "HW-004")
    assert "expected nvme >= 3.6TB (planned 4TB)" in msg and "nvme0n1 nvme 1.82TB" in msg


@pytest.mark.breaks("HW-002")
def test_cpu_count_below_minimum(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "cores", "hardware: {cpu: {min_cores: 96}}\n")
    res = audit(tmp_path, good_host(), profile=path)
    assert failed_ids(res) == {"HW-002"}


@pytest.mark.breaks("HW-005")
def test_nic_speed(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "nics", "hardware: {network: {interfaces: [eno1, eno2, eno3, eno4]}}\n")
    host = {**good_host(), "nics": {"eno1": {"present": True, "speed": 10000, "operstate": "up"},
                                    "eno2": {"present": True, "speed": 1000, "operstate": "up"},
                                    "eno3": {"present": True, "speed": None, "operstate": "down"},
                                    "eno4": {"present": False, "speed": None}}}
    res = audit(tmp_path, host, profile=path)
    assert failed_ids(res) == {"HW-005"}
    assert items(res, "failed") == {"test_nic_speed[eno2]", "test_nic_speed[eno3]", "test_nic_speed[eno4]"}
    assert items(res, "passed") >= {"test_nic_speed[eno1]"}


def test_two_planned_disks_need_two_disks(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "disks", "hardware: {storage: [{transport: nvme, capacity: 2TB}, "
                                           "{transport: nvme, capacity: 2TB}]}\n")
    one = {**good_host(), "disks": [{"name": "nvme0n1", "transport": "nvme", "size": 4 * TB, "type": "disk"}]}
    res = audit(tmp_path, one, profile=path)
    assert items(res, "failed") == {"test_disk[nvme1]"}


def test_host_facts_absent_in_static_mode() -> None:
    ctx = Context(profile=load_profile("prod", ROOT / "profiles"), root=ROOT, mode="static")
    with pytest.raises(NoSource, match="hardware is only observable on the host"):
        HostSource().static(ctx)


# --- parsers --------------------------------------------------------------------------------------
CPUINFO_XEON = "".join(
    f"processor\t: {i}\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6430\n"
    f"physical id\t: {i // 8}\ncore id\t\t: {i % 4}\n\n" for i in range(16))  # 2 sockets x 4 cores x 2 threads
CPUINFO_ARM = "processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n\nprocessor\t: 1\nCPU implementer\t: 0x41\n"


def test_parse_cpuinfo() -> None:
    assert parse_cpuinfo(CPUINFO_XEON) == {"cpu_vendor": "Intel", "cpu_model": "Intel(R) Xeon(R) Gold 6430",
                                           "cpus": 16, "cores": 8, "sockets": 2}
    amd = "processor : 0\nvendor_id : AuthenticAMD\nmodel name : AMD EPYC 9354 32-Core Processor\n"
    assert parse_cpuinfo(amd)["cpu_vendor"] == "AMD"
    assert parse_cpuinfo(CPUINFO_ARM) == {"cpu_vendor": "ARM", "cpu_model": "unknown", "cpus": 2, "cores": 2,
                                          "sockets": 1}


def test_parse_meminfo() -> None:
    assert parse_meminfo("MemTotal:       24684092 kB\nMemFree:  1 kB\n") == 24684092 * 1024
    with pytest.raises(FactError):
        parse_meminfo("garbage")


def test_parse_lsblk() -> None:
    text = json.dumps({"blockdevices": [
        {"name": "nvme0n1", "tran": "nvme", "size": 3840755982336, "type": "disk", "model": "SAMSUNG MZQL23T8HCLS "},
        {"name": "vda", "tran": None, "size": "274877906944", "type": "disk", "model": None},  # util-linux < 2.33
        {"name": "sr0", "tran": "sata", "size": 1073741312, "type": "rom", "model": "QEMU DVD-ROM"}]})
    disks = parse_lsblk(text)
    assert [(d.name, d.transport, d.size, d.type, d.model) for d in disks] == [
        ("nvme0n1", "nvme", 3840755982336, "disk", "SAMSUNG MZQL23T8HCLS"), ("vda", None, 274877906944, "disk", None),
        ("sr0", "sata", 1073741312, "rom", "QEMU DVD-ROM")]
    with pytest.raises(FactError, match="lsblk printed no JSON"):
        parse_lsblk("lsblk: unknown column: TRAN")


@pytest.mark.parametrize("text,speed", [("10000\n", 10000), ("-1\n", None), ("", None), ("25000", 25000)])
def test_parse_speed(text: str, speed: int | None) -> None:
    assert parse_speed(text) == speed


def test_match_disks_prefers_the_smallest_fit() -> None:
    found = [BlockDevice(name=n, transport="nvme", size=s * TB, type="disk") for n, s in (("a", 8), ("b", 4))]
    planned = [Disk(transport="nvme", capacity="2TB"), Disk(transport="nvme", capacity="4TB")]
    got = match_disks(planned, found, 0.1)
    assert [d.name if d else None for d in got] == ["a", "b"]  # 4TB takes b first, 2TB gets what is left
    assert match_disks(planned[:1], [BlockDevice(name="s", transport="sata", size=4 * TB, type="disk")], 0.1) == [None]


def test_approx_size() -> None:
    assert approx_size(3958241859993) == "3.6TB" and approx_size(20 * 2**30) == "20GB" and approx_size(512) == "512B"


# --- live reader over a fake testinfra host, and over this machine ----------------------------------
class FakeHost:
    def __init__(self, files: dict[str, str], commands: dict[str, str]):
        self.files, self.commands = files, commands

    def run(self, cmd: str) -> Any:
        from types import SimpleNamespace as R

        if cmd.startswith("cat "):
            path = cmd[4:].strip("'")
            ok = path in self.files
            return R(rc=0 if ok else 1, stdout=self.files.get(path, ""),
                     stderr="" if ok else f"cat: {path}: No such file")
        if cmd.startswith("test -e "):
            path = cmd[8:].strip("'")
            return R(rc=0 if any(f.startswith(path + "/") for f in self.files) else 1, stdout="", stderr="")
        return R(rc=0, stdout=self.commands[cmd], stderr="")


def test_host_source_live_over_fake_host(monkeypatch: pytest.MonkeyPatch) -> None:
    import plancheck.facts.host as host_mod

    lsblk = json.dumps({"blockdevices": [{"name": "nvme0n1", "tran": "nvme", "size": 4 * TB, "type": "disk",
                                          "model": "X"}]})
    fake = FakeHost({"/proc/cpuinfo": CPUINFO_XEON, "/proc/meminfo": "MemTotal: 263711864 kB\n",
                     "/sys/class/net/eno1/speed": "10000\n", "/sys/class/net/eno1/operstate": "up\n"},
                    {"lsblk -J -b -d -o NAME,TRAN,SIZE,TYPE,MODEL": lsblk, "hostname": "ai-01\n",
                     "systemd-detect-virt": "none\n"})
    monkeypatch.setattr(host_mod, "get_host", lambda ctx: fake)
    profile = load_profile("prod", ROOT / "profiles").model_copy(deep=True)
    net = profile.hardware.network.model_copy(update={"interfaces": ["eno1", "eno9"]})
    profile = profile.model_copy(update={"hardware": profile.hardware.model_copy(update={"network": net})})
    facts = HostSource().live(Context(profile=profile, root=ROOT, mode="live"))
    assert (facts.hostname, facts.cpus, facts.cores, facts.memory_total) == ("ai-01", 16, 8, 263711864 * 1024)
    assert facts.disks[0].transport == "nvme"
    assert facts.nics["eno1"].speed == 10000 and facts.nics["eno1"].operstate == "up"
    assert not facts.nics["eno9"].present
    assert facts.virtualization == [] and facts.virt_probes[0] == "systemd-detect-virt: none"


def _has_default_route() -> bool:
    try:
        lines = Path("/proc/net/route").read_text().splitlines()[1:]
    except OSError:
        return True  # cannot tell: expect the facts
    return any(len(f) > 2 and f[1] == "00000000" for f in (ln.split() for ln in lines))


def test_host_source_live_on_this_machine() -> None:
    """testinfra's local backend on the machine running the tests (Linux). Without a default route
    (an isolated network namespace: the suite's own tests need no network) the uplink cannot be
    named: one line that says so, never a traceback or a guessed NIC."""
    ctx = Context(profile=load_profile("prod", ROOT / "profiles"), root=ROOT, mode="live")
    if not _has_default_route():
        with pytest.raises(FactError, match="no interface carries a default route"):
            HostSource().live(ctx)
        return
    facts = HostSource().live(ctx)
    assert isinstance(facts, HostFacts) and facts.cpus >= 1 and facts.memory_total > 0 and facts.source
    json.dumps(facts.model_dump(mode="json"))


@pytest.mark.parametrize("detect,flags,dmi,virtual", [
    ("none", "fpu vme sse2", "Dell Inc. PowerEdge R760", False),
    ("kvm", "fpu hypervisor", "QEMU Standard PC (Q35 + ICH9, 2009)", True),
    ("docker", "fpu", "", True),  # a container is not the bare-metal host either
    (None, "fpu hypervisor", "", True),  # no systemd-detect-virt: the CPU flag still tells
    ("none", "fpu", "VMware, Inc. VMware Virtual Platform", True),
])
def test_detect_virtualization(detect: str | None, flags: str, dmi: str, virtual: bool) -> None:
    from plancheck.facts.host import detect_virtualization

    probes, found = detect_virtualization(detect, flags, dmi)
    assert len(probes) == 3 and bool(found) is virtual
