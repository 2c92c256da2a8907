"""1.1 하드웨어 구성 (the GPUs, through NVML) and 2.2 컨테이너 리소스 할당 (GPU pinning).

Pinning is checked from three sides, each for every container with planned GPUs and every one
without:
- desired (GPU-010): the container's GPU reservation: compose `device_ids` in static mode, the
  DeviceRequests docker made of them live;
- configured (GPU-011, GPU-012): what the NVIDIA runtime gives the container: its device request,
  else NVIDIA_VISIBLE_DEVICES under `runtime: nvidia`, plus GPU device nodes (compose or inspect);
- observed (GPU-013..015): NVML's compute processes, mapped to containers and compose services.

Every control here first needs the host's NVML facts where the run observes the host: without the
NVIDIA driver a profile with `gpu_required: true` fails each of them with "no NVIDIA driver/NVML on
this host", a profile without it skips them with that reason.
"""
from __future__ import annotations

import re
from typing import Callable, Optional

import pytest

from checks.test_hardware import approx_size
from plancheck.controls import control
from plancheck.evaluate import Check
from plancheck.facts.base import FactError
from plancheck.facts.containers import ContainerFacts
from plancheck.facts.gpu import GpuDevice, GpuFacts, GpuProcess, exposed_gpus, requested_gpus
from plancheck.profile.models import Profile
from plancheck.units import format_size

HW = "1.1 하드웨어 구성 (hardware)"
ALLOC = "2.2 컨테이너 리소스 할당 (container allocation)"


# --- helpers: NVML presence, one GPU, process owners ---------------------------------------------
def require_nvml(check: Check, gpu: GpuFacts, profile: Profile) -> GpuFacts:
    """The GPU facts, once NVML is known to have answered. Without NVML on a host that plans GPUs:
    fail (gpu_required) or skip, with the reason."""
    if not gpu.nvml_available and profile.hardware.gpu.count:
        found = gpu.reason + (f" ({gpu.nvml_error})" if gpu.nvml_error else "")
        if not profile.gpu_required:
            pytest.skip(found)
        check.that(False, expected=f"the NVIDIA driver and NVML showing {profile.hardware.gpu.count} GPU(s)",
                   found=found, what="NVML")
    return gpu


def require_nvml_where_observed(check: Check, gpu: Optional[GpuFacts], profile: Profile) -> Optional[GpuFacts]:
    """`nvml` where the run observes the host's GPUs; None where it does not (static: compose only)."""
    return None if gpu is None else require_nvml(check, gpu, profile)


def device(gpu: GpuFacts, index: int) -> GpuDevice:
    for g in gpu.gpus:
        if g.index == index:
            return g
    pytest.skip(f"GPU {index} not present: NVML shows {len(gpu.gpus)} GPU(s) (reported by GPU-001)")


def owners(gpu: GpuFacts, profile: Profile) -> list[tuple[GpuProcess, str]]:
    """Each compute process with who it belongs to: the compose service of this project, another
    container, or the host. A process that cannot be attributed (its /proc entry is unreadable, or
    Docker cannot say which service a container is) is an error: pinning cannot be judged."""
    project = profile.target.compose.project_name
    out = []
    for p in gpu.processes:
        if p.container_id and not (p.compose_service or p.container_name) or not p.container_id and p.note:
            why = p.note or getattr(gpu.container_lookup, "reason", "containers were not looked up")
            raise FactError(f"cannot tell whose process pid {p.pid} on GPU {p.gpu} is: {why}")
        if p.compose_service and p.compose_project == project:
            who = p.compose_service
        elif p.container_id:
            who = f"container {p.container_name or p.container_id[:12]}"
        else:
            who = f"host process {p.name or '?'} (pid {p.pid})"
        out.append((p, who))
    return out


def _no_gpus_here(container: str, profile: Profile) -> None:
    """A GPU container configured without any GPU is expected where the profile's platform has none."""
    if not profile.gpu_required:
        pytest.skip(f"{container} is configured without GPUs, as a platform without GPUs needs "
                    "(profile gpu_required: false)")


def _mode(v: object) -> str:
    return "enabled" if v is True else "disabled" if v is False else "unreadable" if v is None else str(v)


def _version(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v))


def _uuids(gpu: Optional[GpuFacts]) -> dict[str, int]:
    return {g.uuid: g.index for g in gpu.gpus} if gpu else {}


def _refs(refs: object) -> str:
    return str(sorted(refs, key=lambda r: (isinstance(r, str), str(r)))) if isinstance(refs, (set, list)) else str(refs)


# --- 1.1: the GPUs -------------------------------------------------------------------------------
@control("GPU-001", title="GPU count equals the plan", severity="critical", section=HW,
         rationale="The plan runs on four GPUs (three for the AI system, one for the applications); a missing "
         "card leaves a pinned container without its GPU.",
         remediation="Install or reseat the missing GPU (lspci | grep -i nvidia; nvidia-smi -L), or fix the "
         "driver that does not see it.",
         reads=("hardware.gpu.count", "gpu_required"))
def test_gpu_count(check: Check, gpu_facts: GpuFacts, profile: Profile) -> None:
    gpu = require_nvml(check, gpu_facts, profile)
    check.that(len(gpu.gpus) == profile.hardware.gpu.count, expected=profile.hardware.gpu.count, what="GPUs",
               found=f"{len(gpu.gpus)} {[g.name for g in gpu.gpus]}")


@control("GPU-002", title="GPU model as planned", severity="high", section=HW,
         rationale="The plan's sizing (memory, throughput, MIG or not) is for one model of card.",
         remediation="Install the planned GPU model in this slot.",
         reads=("hardware.gpu.model",))
def test_gpu_model(check: Check, gpu_facts: GpuFacts, profile: Profile, gpu_index: int) -> None:
    g = device(require_nvml(check, gpu_facts, profile), gpu_index)
    want = profile.hardware.gpu
    ok = re.search(rf"(?<![\w-]){re.escape(want.model)}(?![\w-])", g.name, re.I) is not None
    check.that(ok, expected=f"{want.vendor} {want.model}", found=g.name, what=f"GPU {gpu_index}")


@control("GPU-003", title="GPU memory as planned", severity="high", section=HW,
         rationale="Models and batch sizes are chosen for the card's memory.",
         remediation="Install the planned card; a smaller memory total than its model has points to a wrong SKU "
         "or a retired-page problem (nvidia-smi -q -d PAGE_RETIREMENT,ROW_REMAPPER).",
         reads=("hardware.gpu.memory",))
def test_gpu_memory(check: Check, gpu_facts: GpuFacts, profile: Profile, gpu_index: int) -> None:
    g = device(require_nvml(check, gpu_facts, profile), gpu_index)
    want = profile.hardware.gpu.memory
    floor = int(want * (1 - profile.hardware.capacity_tolerance))
    check.that(g.memory_total >= floor, what=f"GPU {gpu_index} memory", found=approx_size(g.memory_total),
               expected=f"{format_size(want)} (>= {approx_size(floor)})")


@control("GPU-004", title="NVIDIA driver at least the minimum version", severity="high", section=HW,
         rationale="Older drivers lack support or fixes for the planned cards and the CUDA versions the "
         "services are built for.",
         remediation="Install an NVIDIA driver at or above hardware.gpu.min_driver.",
         reads=("hardware.gpu.min_driver",))
def test_gpu_driver(check: Check, gpu_facts: GpuFacts, profile: Profile) -> None:
    gpu = require_nvml(check, gpu_facts, profile)
    want = profile.hardware.gpu.min_driver
    check.that(_version(gpu.driver_version) >= _version(want), expected=f">= {want}", what="driver",
               found=f"{gpu.driver_version} (CUDA {gpu.cuda_version or '?'})")


@control("GPU-005", title="GPU ECC enabled", severity="medium", section=HW,
         rationale="Without ECC a memory bit flip silently corrupts model weights or training state.",
         remediation="Enable ECC (nvidia-smi -i N -e 1) and reboot or reset the GPU.",
         reads=("hardware.gpu.ecc",))
def test_gpu_ecc(check: Check, gpu_facts: GpuFacts, profile: Profile, gpu_index: int) -> None:
    g = device(require_nvml(check, gpu_facts, profile), gpu_index)
    if not profile.hardware.gpu.ecc:
        pytest.skip("the profile does not require ECC (hardware.gpu.ecc: false)")
    check.that(g.ecc is True, expected="enabled", found=_mode(g.ecc), what=f"GPU {gpu_index} ECC")


@control("GPU-006", title="GPU persistence mode enabled", severity="low", section=HW,
         rationale="Without persistence the driver tears the GPU state down between clients: slow first "
         "calls and settings (clocks, limits) lost.",
         remediation="Run nvidia-persistenced (systemctl enable --now nvidia-persistenced).",
         reads=("hardware.gpu.persistence",))
def test_gpu_persistence(check: Check, gpu_facts: GpuFacts, profile: Profile, gpu_index: int) -> None:
    g = device(require_nvml(check, gpu_facts, profile), gpu_index)
    if not profile.hardware.gpu.persistence:
        pytest.skip("the profile does not require persistence mode (hardware.gpu.persistence: false)")
    check.that(g.persistence is True, expected="enabled", found=_mode(g.persistence),
               what=f"GPU {gpu_index} persistence")


@control("GPU-007", title="GPU MIG mode as planned", severity="high", section=HW,
         rationale="MIG splits a card into instances: device ids and memory of every pinned container change.",
         remediation="Set MIG mode to the plan's (nvidia-smi -i N -mig 0|1) and reset the GPU.",
         reads=("hardware.gpu.mig",))
def test_gpu_mig(check: Check, gpu_facts: GpuFacts, profile: Profile, gpu_index: int) -> None:
    g = device(require_nvml(check, gpu_facts, profile), gpu_index)
    want = profile.hardware.gpu.mig
    on = g.mig is True
    check.that(on == want and g.mig is not None, expected="enabled" if want else "disabled (or not supported)",
               found=_mode(g.mig), what=f"GPU {gpu_index} MIG")


@control("GPU-008", title="GPU PCIe link generation and width as planned", severity="medium", section=HW,
         rationale="A card in a slower or narrower slot, or a link trained down by a bad riser, loses host-GPU "
         "bandwidth for model loading and data transfer.",
         remediation="Move the card to a full-width slot of the planned generation; check risers and BIOS "
         "PCIe settings (lspci -vv: LnkCap/LnkSta).",
         reads=("hardware.gpu.pcie_generation", "hardware.gpu.pcie_width"))
def test_gpu_pcie(check: Check, gpu_facts: GpuFacts, profile: Profile, gpu_index: int) -> None:
    g = device(require_nvml(check, gpu_facts, profile), gpu_index)
    want = profile.hardware.gpu
    if want.pcie_generation is None and want.pcie_width is None:
        pytest.skip("the profile plans no PCIe generation or width")
    if want.pcie_generation is not None:
        # the current generation drops at idle to save power: compare what the link can train to
        check.that((g.pcie_generation_max or 0) >= want.pcie_generation, expected=f">= Gen{want.pcie_generation}",
                   found=f"Gen{g.pcie_generation_max} max (Gen{g.pcie_generation} now)",
                   what=f"GPU {gpu_index} PCIe generation")
    if want.pcie_width is not None:
        check.that((g.pcie_width or 0) >= want.pcie_width, expected=f">= x{want.pcie_width}",
                   found=f"x{g.pcie_width} (max x{g.pcie_width_max})", what=f"GPU {gpu_index} PCIe width")


# --- 2.2: containers get their GPUs ------------------------------------------------------------------
@control("GPU-009", title="Docker can give containers GPUs (NVIDIA container runtime)", severity="critical",
         section=ALLOC, rationale="Without the NVIDIA container toolkit no GPU container of the plan can start "
         "with its GPUs.",
         remediation="Install nvidia-container-toolkit and register it (nvidia-ctk runtime configure "
         "--runtime=docker; systemctl restart docker).",
         reads=("containers.*.gpus", "gpu_required"))
def test_gpu_container_runtime(check: Check, gpu_facts: GpuFacts, profile: Profile) -> None:
    gpu = require_nvml(check, gpu_facts, profile)
    if not any(c.gpus for c in profile.containers.values()):
        pytest.skip("no container of the profile plans a GPU")
    expected = "the NVIDIA container toolkit on the host or a docker runtime 'nvidia'"
    if gpu.container_toolkit:  # observed on the host: the toolkit's hook or nvidia-ctk
        check.that(bool(gpu.container_toolkit), expected=expected, found=f"toolkit {gpu.container_toolkit}",
                   what="NVIDIA container runtime")
        return
    runtimes = check.fact(gpu.docker_runtimes)  # skips where Docker is not observed (no engine, no SDK)
    check.that("nvidia" in runtimes, expected=expected, what="NVIDIA container runtime",
               found="docker runtime 'nvidia'" if "nvidia" in runtimes else
                     f"missing: docker runtimes {runtimes} and no nvidia-container-runtime-hook/nvidia-ctk on the host")


@control("GPU-010", title="GPU reservation pins exactly the planned devices", severity="high", section=ALLOC,
         rationale="The plan pins each AI/application container to named GPUs (device=0,1 ...); a request by "
         "count or for other ids lets the runtime pick any card.",
         remediation="Set deploy.resources.reservations.devices with driver nvidia, capabilities [gpu] and "
         "device_ids of the plan.",
         reads=("containers.{gpu_container}.gpus",))
def test_pinning_reservation(check: Check, gpu_host: Optional[GpuFacts], profile: Profile, gpu_container: str,
                             pinned_container: Callable[[str], ContainerFacts]) -> None:
    gpu = require_nvml_where_observed(check, gpu_host, profile)
    ctr = pinned_container(gpu_container)
    ids = requested_gpus(ctr, _uuids(gpu))
    if ids is None:
        _no_gpus_here(gpu_container, profile)
    planned = sorted(profile.containers[gpu_container].gpus)
    check.that(ids == planned, expected=f"device_ids {planned}", what="GPU reservation",
               found="no GPU reservation" if ids is None else
                     ("a request by count without device_ids" if not ids else f"device_ids {_refs(ids)}"))


@control("GPU-011", title="NVIDIA runtime exposes exactly the planned GPUs", severity="high", section=ALLOC,
         rationale="What reaches the container is the union of its device request, NVIDIA_VISIBLE_DEVICES under "
         "the nvidia runtime and GPU device nodes; any of them can widen the reservation.",
         remediation="Pin through the device request only; remove NVIDIA_VISIBLE_DEVICES=all, `runtime: nvidia` "
         "and /dev/nvidiaN devices from the service.",
         reads=("containers.{gpu_container}.gpus",))
def test_pinning_exposure(check: Check, gpu_host: Optional[GpuFacts], profile: Profile, gpu_container: str,
                          pinned_container: Callable[[str], ContainerFacts]) -> None:
    gpu = require_nvml_where_observed(check, gpu_host, profile)
    got, how = exposed_gpus(pinned_container(gpu_container), _uuids(gpu))
    if not got:
        _no_gpus_here(gpu_container, profile)
    planned = set(profile.containers[gpu_container].gpus)
    check.that(got == planned, expected=_refs(planned), what="GPUs exposed",
               found=f"{_refs(got)} via {', '.join(how)}" if how else "none")


@control("GPU-012", title="Container without a planned GPU requests and exposes none", severity="high",
         section=ALLOC, rationale="The plan gives GPUs to four containers only; any other holding one takes "
         "capacity planned for them.",
         remediation="Remove the GPU device request, `runtime: nvidia`, NVIDIA_VISIBLE_DEVICES and /dev/nvidia* "
         "devices from the service.",
         reads=("containers.{gpuless_container}.gpus",))
def test_pinning_none_unplanned(check: Check, gpu_host: Optional[GpuFacts], profile: Profile,
                                gpuless_container: str,
                                pinned_container: Callable[[str], ContainerFacts]) -> None:
    gpu = require_nvml_where_observed(check, gpu_host, profile)
    got, how = exposed_gpus(pinned_container(gpuless_container), _uuids(gpu))
    check.that(not got, expected="no GPU", what="GPUs exposed", found=f"{_refs(got)} via {', '.join(how)}")


@control("GPU-013", title="Container's GPU processes run only on its planned GPUs", severity="high", section=ALLOC,
         rationale="What NVML sees is the pinning that actually holds: a process on another GPU takes the "
         "capacity planned for someone else.",
         remediation="Recreate the container with its planned device_ids; check CUDA_VISIBLE_DEVICES inside it.",
         reads=("containers.{gpu_container}.gpus",))
def test_processes_on_planned_gpus(check: Check, gpu_facts: GpuFacts, profile: Profile, gpu_container: str) -> None:
    gpu = require_nvml(check, gpu_facts, profile)
    used = {p.gpu for p, who in owners(gpu, profile) if who == gpu_container}
    check.subset(used, profile.containers[gpu_container].gpus, what=f"GPUs with processes of {gpu_container}")


@control("GPU-014", title="No GPU process in a container without a planned GPU", severity="high", section=ALLOC,
         rationale="A container the plan gives no GPU must not hold one, whatever its configuration says.",
         remediation="Find how the container reaches the GPU (device request, runtime, device nodes) and remove it.",
         reads=("containers.{gpuless_container}.gpus",))
def test_processes_none_unplanned(check: Check, gpu_facts: GpuFacts, profile: Profile,
                                  gpuless_container: str) -> None:
    gpu = require_nvml(check, gpu_facts, profile)
    check.none_of(sorted({p.gpu for p, who in owners(gpu, profile) if who == gpuless_container}),
                  what=f"GPUs with processes of {gpuless_container}")


@control("GPU-015", title="GPU used only by the containers the plan pins to it", severity="high", section=ALLOC,
         rationale="The plan shares GPU 2 between vector-db and training-server and no other GPU; any other user "
         "(another container, a host process) shares a card beyond the plan.",
         remediation="Stop the unplanned user (nvidia-smi shows its PID) or change the plan's pinning.",
         reads=("containers.*.gpus",))
def test_gpu_users_as_planned(check: Check, gpu_facts: GpuFacts, profile: Profile, gpu_index: int) -> None:
    gpu = require_nvml(check, gpu_facts, profile)
    device(gpu, gpu_index)
    allowed = sorted(n for n, c in profile.containers.items() if gpu_index in c.gpus)
    check.subset({who for p, who in owners(gpu, profile) if p.gpu == gpu_index}, allowed,
                 what=f"users of GPU {gpu_index}")
