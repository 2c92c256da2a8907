"""GPU facts through NVML (package nvidia-ml-py, `import pynvml`): driver, every GPU's identity and
modes, the compute processes on each GPU, and which container (and compose service) each process
belongs to (/proc/PID/cgroup, then the docker SDK where Docker is reachable).

A host without the NVIDIA driver is a fact, not an error: `nvml_available: false` with the reason,
so a profile that needs GPUs fails every GPU control with that reason and one that does not skips.
Live only: GPUs are not part of any desired state (static mode raises NoSource).
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel

from plancheck.facts.base import Context, FactError, Facts, FactSource, NoSource, Unavailable, register
from plancheck.facts.containers import ContainerFacts, docker_client
from plancheck.facts.host import NOT_STATIC

NO_NVML = "no NVIDIA driver/NVML on this host"
NOT_SUPPORTED = "not supported"

Mode = Union[bool, Literal["not supported"]]  # an NVML feature switch; NotSupported on this card


class GpuDevice(BaseModel):
    index: int
    name: str  # e.g. "NVIDIA RTX 4000 Ada Generation", "NVIDIA H100 80GB HBM3"
    uuid: str
    pci_bus_id: str
    memory_total: int  # bytes
    ecc: Optional[Mode]  # current ECC mode; None: NVML could not read it (see errors)
    persistence: Optional[Mode]
    mig: Optional[Mode]  # current MIG mode
    pcie_generation: Optional[int]  # current (drops at idle to save power)
    pcie_generation_max: Optional[int]  # the most this device in this slot can train to
    pcie_width: Optional[int]  # current lanes
    pcie_width_max: Optional[int]
    temperature: Optional[int]  # degrees C
    power_limit_w: Optional[float]  # enforced power limit


class GpuProcess(BaseModel):
    pid: int
    gpu: int  # index of the GPU the process has a context on
    used_memory: Optional[int] = None  # bytes; None where NVML cannot tell
    name: Optional[str] = None  # process name as NVML reports it
    container_id: Optional[str] = None  # None: not in a Docker container (or its cgroup is unreadable)
    container_name: Optional[str] = None
    compose_project: Optional[str] = None
    compose_service: Optional[str] = None  # None: unknown (no container, or Docker not reachable)
    note: str = ""  # why the owner could not be found, if it could not


class GpuFacts(Facts):
    nvml_available: bool
    reason: str = ""  # why not, when not: NO_NVML or an NVML refusal
    nvml_error: str = ""  # NVML's own words
    driver_version: str = ""
    cuda_version: str = ""
    gpus: list[GpuDevice] = []
    processes: list[GpuProcess] = []
    # How processes were mapped to compose services: "docker" or why it could not be done.
    container_lookup: Union[str, Unavailable] = "not needed"
    docker_runtimes: Union[list[str], Unavailable] = Unavailable(reason="not observed")
    container_toolkit: Optional[str] = None  # path of the NVIDIA container runtime hook / nvidia-ctk, if found
    errors: list[str] = []  # optional fields NVML could not read, one line each


# --- cgroup -> container id ------------------------------------------------------------------------
_CGROUP_ID = re.compile(r"(?:/docker-|/docker/)([0-9a-f]{64})(?:\.scope)?(?:/|$)")


def container_id_from_cgroup(text: str) -> Optional[str]:
    """The Docker container id in /proc/PID/cgroup (v1 or v2; systemd `docker-<id>.scope` or
    cgroupfs `/docker/<id>`), or None for a process outside Docker."""
    for line in text.splitlines():
        path = line.split(":", 2)[-1]
        m = _CGROUP_ID.search(path)
        if m:
            return m.group(1)
    return None


def read_container_id(pid: int, proc: Path = Path("/proc")) -> tuple[Optional[str], str]:
    """(container id or None, note). The note says why no owner could be read."""
    try:
        return container_id_from_cgroup((proc / str(pid) / "cgroup").read_text()), ""
    except FileNotFoundError:
        return None, f"no {proc}/{pid}: the process is in another PID namespace or has exited"
    except OSError as e:
        return None, f"cannot read {proc}/{pid}/cgroup: {e.strerror}"


# --- container id -> compose service (docker SDK) ----------------------------------------------------
def _docker(ctx: Context) -> tuple[Any, Optional[str]]:
    """A docker client, or None and why not (no SDK, no engine): Docker is optional for GPU facts."""
    try:
        return docker_client(ctx), None
    except ImportError:
        return None, "the docker SDK is not installed here: Docker not observed"
    except FactError as e:
        return None, str(e)


def resolve_containers(processes: list[GpuProcess], client: Any) -> None:
    for p in processes:
        if not p.container_id:
            continue
        try:
            ins = client.api.inspect_container(p.container_id)
        except Exception as e:  # gone since NVML listed it, or an engine error
            p.note = f"docker inspect {p.container_id[:12]}: {str(e).splitlines()[0][:120]}"
            continue
        labels = (ins.get("Config") or {}).get("Labels") or {}
        p.container_name = str(ins.get("Name", "")).lstrip("/") or None
        p.compose_project = labels.get("com.docker.compose.project")
        p.compose_service = labels.get("com.docker.compose.service")


def find_toolkit() -> Optional[str]:
    for exe in ("nvidia-container-runtime-hook", "nvidia-ctk", "nvidia-container-runtime"):
        found = shutil.which(exe) or next((p for p in (f"/usr/bin/{exe}", f"/usr/local/bin/{exe}")
                                           if Path(p).exists()), None)
        if found:
            return found
    return None


# --- what a container's configuration gives it (desired/configured side of GPU pinning) ----------------
GpuRef = Union[int, str]  # an NVML index, or what could not be mapped to one ("all", a UUID, ...)
_DEV_NODE = re.compile(r"^/dev/nvidia(\d+)(?::|$)")
_CDI = re.compile(r"^nvidia\.com/gpu=(\S+)$")


def gpu_ref(device_id: str, uuid_index: dict[str, int]) -> GpuRef:
    """'2' -> 2; a GPU UUID -> its index where NVML facts are at hand; anything else as written."""
    d = str(device_id).strip()
    if d.isdigit():
        return int(d)
    return uuid_index.get(d, d)


def requested_gpus(ctr: ContainerFacts, uuid_index: dict[str, int]) -> Optional[list[GpuRef]]:
    """The device ids of the container's GPU reservation (compose deploy.resources.reservations.devices
    statically, HostConfig.DeviceRequests live); None without one; [] for a request by count only."""
    if ctr.gpu_device_ids is None:
        return None
    return sorted({gpu_ref(d, uuid_index) for d in ctr.gpu_device_ids}, key=lambda r: (isinstance(r, str), str(r)))


def exposed_gpus(ctr: ContainerFacts, uuid_index: dict[str, int]) -> tuple[set[GpuRef], list[str]]:
    """The GPUs the NVIDIA container runtime gives the container, and through which setting:
    a device request wins over NVIDIA_VISIBLE_DEVICES (Docker appends its own value to the process
    environment); without one the variable counts only under `runtime: nvidia`; GPU device nodes or
    CDI names in `devices:` add theirs."""
    gpus: set[GpuRef] = set()
    how: list[str] = []
    if ctr.gpu_device_ids is not None:
        ids = requested_gpus(ctr, uuid_index) or ["any (requested by count, no device_ids)"]
        gpus |= set(ids)
        how.append(f"device request {ctr.gpu_device_ids or '(count only)'}")
    elif ctr.runtime == "nvidia":
        env = ctr.env_visible_devices
        if env is None:
            gpus.add("the image's default (runtime nvidia, NVIDIA_VISIBLE_DEVICES unset)")
        elif env.strip().lower() not in ("", "none", "void"):
            gpus |= {gpu_ref(d, uuid_index) for d in env.split(",") if d.strip()}
        how.append(f"runtime nvidia, NVIDIA_VISIBLE_DEVICES={env if env is not None else '(unset)'}")
    for dev in ctr.devices:
        m = _DEV_NODE.match(dev) or _CDI.match(dev)
        if m:
            gpus.add(gpu_ref(m.group(1), uuid_index))
            how.append(f"device {dev}")
    return gpus, how


# --- NVML ----------------------------------------------------------------------------------------------
def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class _Nvml:
    """Thin wrapper: NotSupported -> a marker, other errors of optional fields -> None plus a note."""

    def __init__(self, nvml: Any):
        self.nvml = nvml
        self.errors: list[str] = []

    def is_not_supported(self, e: Exception) -> bool:
        return getattr(e, "value", None) == getattr(self.nvml, "NVML_ERROR_NOT_SUPPORTED", 3)

    def optional(self, what: str, call: str, *args: Any, unsupported: Any = None) -> Any:
        """nvml.<call>(*args); NotSupported -> `unsupported`; another error -> None, noted under `what`."""
        try:
            return getattr(self.nvml, call)(*args)
        except self.nvml.NVMLError as e:
            if self.is_not_supported(e):
                return unsupported
            self.errors.append(f"{what}: {e}")
            return None

    def mode(self, what: str, call: str, handle: Any) -> Mode | None:
        """A feature switch: on/off (the current value where NVML gives current and pending)."""
        v = self.optional(what, call, handle, unsupported=NOT_SUPPORTED)
        if v is None or v == NOT_SUPPORTED:
            return v
        return bool(v[0] if isinstance(v, (list, tuple)) else v)

    def processes(self, handle: Any) -> list[Any]:
        n = self.nvml
        for fn_name in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetComputeRunningProcesses_v2"):
            fn = getattr(n, fn_name, None)
            if fn is None:
                continue
            try:
                return list(fn(handle))
            except n.NVMLError as e:
                if getattr(e, "value", None) == getattr(n, "NVML_ERROR_FUNCTION_NOT_FOUND", 13):
                    continue  # a driver older than the v3 call: try v2
                if self.is_not_supported(e):
                    return []
                self.errors.append(f"compute processes: {e}")
                return []
        return []

    def process_name(self, pid: int) -> Optional[str]:
        fn = getattr(self.nvml, "nvmlSystemGetProcessName", None)
        if fn is None:
            return None
        try:
            return _text(fn(pid)).rsplit("/", 1)[-1] or None
        except self.nvml.NVMLError:
            return None


def read_nvml(nvml: Any) -> GpuFacts:
    """Everything this source reads from NVML; `nvml` is the pynvml module (a fake one in tests)."""
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as e:
        refused = getattr(e, "value", None) == getattr(nvml, "NVML_ERROR_NO_PERMISSION", 4)
        reason = "NVML refused access (no permission to open /dev/nvidiactl)" if refused else NO_NVML
        return GpuFacts(source="NVML", nvml_available=False, reason=reason, nvml_error=str(e))
    except OSError as e:  # a broken libnvidia-ml.so
        return GpuFacts(source="NVML", nvml_available=False, reason=NO_NVML, nvml_error=str(e))
    q = _Nvml(nvml)
    try:
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        cuda = q.optional("CUDA driver version", "nvmlSystemGetCudaDriverVersion")
        gpus, procs = [], []
        for i in range(nvml.nvmlDeviceGetCount()):
            h = nvml.nvmlDeviceGetHandleByIndex(i)
            power_mw = q.optional(f"GPU {i} power limit", "nvmlDeviceGetEnforcedPowerLimit", h)
            gpus.append(GpuDevice(
                index=i, name=_text(nvml.nvmlDeviceGetName(h)), uuid=_text(nvml.nvmlDeviceGetUUID(h)),
                pci_bus_id=_text(nvml.nvmlDeviceGetPciInfo(h).busId),
                memory_total=int(nvml.nvmlDeviceGetMemoryInfo(h).total),
                ecc=q.mode(f"GPU {i} ECC mode", "nvmlDeviceGetEccMode", h),
                persistence=q.mode(f"GPU {i} persistence mode", "nvmlDeviceGetPersistenceMode", h),
                mig=q.mode(f"GPU {i} MIG mode", "nvmlDeviceGetMigMode", h),
                pcie_generation=q.optional(f"GPU {i} PCIe generation", "nvmlDeviceGetCurrPcieLinkGeneration", h),
                pcie_generation_max=q.optional(f"GPU {i} PCIe max generation", "nvmlDeviceGetMaxPcieLinkGeneration", h),
                pcie_width=q.optional(f"GPU {i} PCIe width", "nvmlDeviceGetCurrPcieLinkWidth", h),
                pcie_width_max=q.optional(f"GPU {i} PCIe max width", "nvmlDeviceGetMaxPcieLinkWidth", h),
                temperature=q.optional(f"GPU {i} temperature", "nvmlDeviceGetTemperature", h,
                                       getattr(nvml, "NVML_TEMPERATURE_GPU", 0)),
                power_limit_w=round(power_mw / 1000, 1) if power_mw is not None else None,
            ))
            for p in q.processes(h):
                procs.append(GpuProcess(pid=int(p.pid), gpu=i, name=q.process_name(int(p.pid)),
                                        used_memory=getattr(p, "usedGpuMemory", None)))
    finally:
        try:
            nvml.nvmlShutdown()
        except nvml.NVMLError:
            pass
    return GpuFacts(source="NVML", nvml_available=True, driver_version=driver,
                    cuda_version=f"{cuda // 1000}.{cuda % 1000 // 10}" if isinstance(cuda, int) else "",
                    gpus=gpus, processes=procs, errors=q.errors)


@register
class GpuSource(FactSource):
    name = "gpu"
    model = GpuFacts

    def static(self, ctx: Context) -> GpuFacts:
        raise NoSource(NOT_STATIC)

    def live(self, ctx: Context) -> GpuFacts:
        try:
            import pynvml
        except ImportError:
            raise FactError("gpu: the nvidia-ml-py package (import pynvml) is not installed") from None
        facts = read_nvml(pynvml)
        facts.container_toolkit = find_toolkit()
        for p in facts.processes:
            p.container_id, p.note = read_container_id(p.pid)
        in_containers = any(p.container_id for p in facts.processes)
        client, why = _docker(ctx)
        if client is None:
            # no Docker SDK at all: a GPU machine without Docker (the NVML lab), where no runtime can
            # exist; an engine that does not answer is a failure to observe (an error in live mode)
            no_sdk = bool(why and "SDK is not installed" in why)
            facts.docker_runtimes = Unavailable(reason=why or "Docker not reachable",
                                                kind="absent" if no_sdk else "mode")
            if in_containers:
                facts.container_lookup = Unavailable(reason=f"cannot map GPU processes to services: {why}")
            return facts
        try:
            try:
                facts.docker_runtimes = sorted((client.info().get("Runtimes") or {}).keys())
            except Exception as e:  # docker.errors.*, request timeouts: one line
                facts.docker_runtimes = Unavailable(reason=f"docker info: {str(e).splitlines()[0][:200]}")
            if in_containers:
                resolve_containers(facts.processes, client)  # per-process failures become notes
                facts.container_lookup = "docker"
        finally:
            client.close()
        return facts
