"""1.1 하드웨어 구성: the bare-metal server as planned (CPU, memory, NVMe, network), read on the host
through testinfra. The GPUs of 1.1 are checked in test_gpu.py (NVML).

Capacities are compared with the profile's `capacity_tolerance` below the plan and no bound above:
vendors sell decimal units and kernels report binary ones (a "4TB" NVMe shows ~3.64 TiB, 256 GB of
RAM shows a little less as MemTotal), and more than planned never breaks the plan's budgets."""
from __future__ import annotations

import re
from typing import Optional

import pytest

from plancheck.controls import control
from plancheck.evaluate import Check
from plancheck.facts.host import BlockDevice, HostFacts
from plancheck.profile.models import Disk, Profile
from plancheck.units import format_size

HW = "1.1 하드웨어 구성 (hardware)"
pytestmark = pytest.mark.per_host  # host-level: once per host of target.fleet


def approx_size(n: int) -> str:
    """Sizes as hardware reports them, rounded for reading (binary units, as the profile's):
    3958241859993 -> '3.6TB', 21470642176 -> '20GB'."""
    for unit, mult in (("TB", 1024**4), ("GB", 1024**3), ("MB", 1024**2)):
        if n >= mult:
            return f"{n / mult:.2f}".rstrip("0").rstrip(".") + unit
    return format_size(n)


def _floor(planned: int, profile: Profile) -> int:
    return int(planned * (1 - profile.hardware.capacity_tolerance))


def match_disks(planned: list[Disk], found: list[BlockDevice], tolerance: float) -> list[Optional[BlockDevice]]:
    """Give each planned disk (largest first) the smallest unused disk of its transport that holds
    its capacity within the tolerance; None where there is none."""
    free = sorted((d for d in found if d.type == "disk" and d.size > 0), key=lambda d: d.size)
    out: list[Optional[BlockDevice]] = [None] * len(planned)
    for i in sorted(range(len(planned)), key=lambda i: -planned[i].capacity):
        want = planned[i]
        pick = next((d for d in free if (d.transport or "").lower() == want.transport.lower()
                     and d.size >= want.capacity * (1 - tolerance)), None)
        if pick is not None:
            free.remove(pick)
            out[i] = pick
    return out


@control("HW-001", title="CPU vendor and family as planned", severity="medium", section=HW,
         rationale="The plan names Intel Xeon Scalable; another CPU changes performance, instruction sets and "
         "the support contract the sizing assumed.",
         remediation="Deploy on a server with the planned CPU, or change the plan (hardware.cpu) with its owner.",
         reads=("hardware.cpu.vendor", "hardware.cpu.family", "hardware.cpu.model_pattern"))
def test_cpu_model(check: Check, host_facts: HostFacts, profile: Profile) -> None:
    cpu = profile.hardware.cpu
    if not cpu.vendor and not cpu.family:
        check.not_applicable("the profile plans no CPU vendor or family (hardware.cpu): any CPU with "
                             f"{cpu.min_cores}+ logical CPUs will do (HW-002)")
    first_word = (cpu.family or "").split()[0] if cpu.family else ""
    ok = (not cpu.vendor or host_facts.cpu_vendor.lower() == cpu.vendor.lower()) and \
        (not first_word or re.search(rf"\b{re.escape(first_word)}\b", host_facts.cpu_model, re.I) is not None) and \
        (not cpu.model_pattern or re.search(cpu.model_pattern, host_facts.cpu_model, re.I) is not None)
    check.that(ok, expected=" ".join(x for x in (cpu.vendor, cpu.family) if x) +
               (f" (model matching {cpu.model_pattern})" if cpu.model_pattern else ""),
               found=f"{host_facts.cpu_vendor}: {host_facts.cpu_model}", what="CPU")


@control("HW-002", title="CPU count at least the planned minimum", severity="medium", section=HW,
         rationale="Container CPU limits are shares of the host's CPUs; fewer CPUs than planned over-commit them.",
         remediation="Deploy on a server with at least hardware.cpu.min_cores logical CPUs (check BIOS SMT/core "
         "settings and VM sizing).",
         reads=("hardware.cpu.min_cores",))
def test_cpu_count(check: Check, host_facts: HostFacts, profile: Profile) -> None:
    want = profile.hardware.cpu.min_cores
    check.that(host_facts.cpus >= want, expected=f">= {want} logical CPUs", what="CPUs",
               found=f"{host_facts.cpus} logical CPUs ({host_facts.cores} cores, {host_facts.sockets} socket(s))")


@control("HW-003", title="Physical memory as planned", severity="high", section=HW,
         rationale="The allocations and container limits of 1.2 and 2.2 are carved out of the planned RAM.",
         remediation="Install the planned memory (check for failed DIMMs: dmidecode -t memory, EDAC counters).",
         reads=("hardware.memory",))
def test_memory(check: Check, host_facts: HostFacts, profile: Profile) -> None:
    want = profile.hardware.memory
    check.that(host_facts.memory_total >= _floor(want, profile), what="MemTotal",
               expected=f"{format_size(want)} (>= {approx_size(_floor(want, profile))} with "
                        f"{profile.hardware.capacity_tolerance:.0%} tolerance)",
               found=approx_size(host_facts.memory_total))


@control("HW-004", title="Planned disk present with its transport and capacity", severity="high", section=HW,
         rationale="The plan's storage (4TB NVMe) backs the 2 TB + 2 TB allocations and the databases' I/O.",
         remediation="Install the planned disk (e.g. the NVMe SSD) or fix its detection (lsblk, nvme list).",
         reads=("hardware.storage",))
def test_disk(check: Check, host_facts: HostFacts, profile: Profile, disk: Optional[int]) -> None:
    if disk is None:
        pytest.skip("the profile plans no disks (hardware.storage is empty)")
    planned = profile.hardware.storage
    want = planned[disk]
    got = match_disks(planned, host_facts.disks, profile.hardware.capacity_tolerance)[disk]
    seen = [f"{d.name} {d.transport or 'no transport'} {approx_size(d.size)}" for d in host_facts.disks
            if d.type == "disk" and d.size > 0]
    check.that(got is not None, what=f"disk {disk + 1} of {len(planned)}",
               expected=f"{want.transport} >= {approx_size(_floor(want.capacity, profile))} "
                        f"(planned {format_size(want.capacity)})",
               found=f"{got.name} {got.transport or 'no transport'} {approx_size(got.size)}" if got else
                     f"no such disk free among {seen or 'no disks'}")


@control("HW-005", title="Network interface links at the planned speed", severity="medium", section=HW,
         rationale="The plan gives the server a 10 Gbps network; a link negotiated lower is a cabling, "
         "switch port or NIC fault.",
         remediation="Check the cable, transceiver and switch port (ethtool IF); name the uplinks in "
         "hardware.network.interfaces.",
         reads=("hardware.network.speed", "hardware.network.interfaces"))
def test_nic_speed(check: Check, host_facts: HostFacts, profile: Profile, nic: Optional[str]) -> None:
    want = profile.hardware.network.speed
    if nic is None:
        pytest.skip(f"the profile names no interfaces (hardware.network.interfaces): the planned {want} Mbit/s "
                    "is not checked on any link")
    facts = host_facts.nics.get(nic)
    if facts is None or not facts.present:
        check.that(False, expected=f"interface {nic}", found="absent", what=nic)
        return
    name = f"{nic} ({facts.device})" if facts.device and facts.device != nic else nic
    if want is None:  # the profile needs a working uplink, not a speed
        check.equal(facts.operstate or "unknown", "up", what=f"{name} link state")
        return
    check.that(facts.speed is not None and facts.speed >= want, expected=f">= {want} Mbit/s", what=name,
               found=f"{facts.speed} Mbit/s" if facts.speed else f"no link speed (operstate {facts.operstate or '?'})")


@control("HW-006", title="The platform runs on bare metal", severity="medium", section=HW,
         rationale="The plan's server is a 베어본 서버 (bare-metal server): the GPUs, NVMe and 10 Gbps link are the "
         "platform's own, not shared through a hypervisor or a container host.",
         remediation="Run the platform on the planned physical server, or change the plan (hardware.bare_metal) "
         "with its owner.",
         reads=("hardware.bare_metal",))
def test_bare_metal(check: Check, host_facts: HostFacts, profile: Profile) -> None:
    if not profile.hardware.bare_metal:
        # still say what this host is, so the report shows the observation behind the waiver of the rule
        seen = host_facts.virtualization
        what = ("; ".join(seen) or "no sign of virtualization") if isinstance(seen, list) else "not observed"
        check.not_applicable(f"the profile does not require bare metal (hardware.bare_metal: false); "
                             f"this host: {what}")
    found = check.fact(host_facts.virtualization)
    check.none_of(found, what=f"signs of virtualization ({'; '.join(host_facts.virt_probes)})",
                  expected_text="none (bare metal)", among=len(host_facts.virt_probes), noun="probes")
