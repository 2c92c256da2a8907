"""The profile's resource sections: 1.1 hardware (CPU, GPU, memory, disks, network), 1.2 resource
allocations and zones, 2.x containers and the policy every container is held to.

Split out of `plancheck.profile.models`, which re-exports every public name.
"""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from plancheck.profile.models_base import Mbps, Size, Strict


# --- 1.1 hardware -------------------------------------------------------------------------------
class Cpu(Strict):
    # None: any (the reference deployment needs cores, not a vendor; the plan names Intel Xeon Scalable)
    vendor: Optional[str] = None
    family: Optional[str] = None
    # a regular expression the model string must match where the family alone is not precise enough
    # (Xeon Scalable: Bronze/Silver/Gold/Platinum/Max, and Xeon 6 with its 4-digit numbers)
    model_pattern: Optional[str] = None
    min_cores: int = 1


class Gpu(Strict):
    vendor: str = "NVIDIA"
    model: str
    count: int = Field(ge=0)
    memory: Size
    min_driver: str = "0"
    ecc: bool = True
    persistence: bool = True
    mig: bool = False
    pcie_generation: Optional[int] = None
    pcie_width: Optional[int] = None


class Disk(Strict):
    transport: str = "nvme"
    capacity: Size


class Network(Strict):
    speed: Optional[Mbps]  # None: any speed, the link only has to be up (a virtual NIC reports none)
    # kernel names, or "default-route" for whichever interface carries the default route
    interfaces: list[str] = []


class Hardware(Strict):
    bare_metal: bool = False  # 1.1 베어본 서버: no hypervisor or container between the platform and the host
    cpu: Cpu
    gpu: Gpu
    memory: Size
    storage: list[Disk]
    network: Network
    # Vendors sell decimal terabytes and kernels report binary ones; a real "4TB" NVMe shows ~3.64 TiB.
    capacity_tolerance: float = Field(default=0.1, ge=0, le=0.5)


# --- 1.2 allocations and 2.x containers --------------------------------------------------------
class Allocation(Strict):
    title: str
    zones: list[str]
    gpus: int = Field(ge=0)
    memory: Size
    storage: Size
    purposes: list[str] = []


class Zone(Strict):
    title: str
    networks: list[str]


class Port(Strict):
    port: int = Field(ge=1, le=65535)
    host_ip: str = "0.0.0.0"
    container_port: Optional[int] = None


class Container(Strict):
    zone: str
    memory: Size
    gpus: list[int] = []
    # a GPU metrics agent (DCGM exporter): sees every GPU to report on them and runs no GPU work, so
    # GPU-012 (no GPU outside the plan) does not apply to it; GPU-013 still watches its processes
    gpu_monitor: bool = False
    networks: Optional[list[str]] = None  # default: the zone's networks
    ports: list[Port] = []
    read_only: bool = True
    non_root: bool = True
    cap_add: list[str] = []
    allowed_host_mounts: list[str] = []  # forbidden host paths this container may mount read-only
    shares_network_of: Optional[str] = None  # a sidecar in another container's network namespace
    planned: bool = True  # False: a supporting container the plan does not size (gateway, exporters)
    skip_live: Optional[str] = None  # a reason why this container cannot run where the profile points


class LogPolicy(Strict):
    driver: str = "json-file"
    max_size: Size
    max_file: int = Field(ge=1)


class ContainerPolicy(Strict):
    restart: list[str]
    pids_limit_max: int = Field(ge=1)
    require_cpu_limit: bool = True
    no_new_privileges: bool = True
    drop_all_capabilities: bool = True
    forbidden_mounts: list[str]
    forbidden_image_tags: list[str] = ["latest"]
    log: LogPolicy
