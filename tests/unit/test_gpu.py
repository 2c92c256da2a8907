"""GPU facts (NVML, cgroups, container exposure) and the GPU-0xx controls on recorded facts.

Each control case runs the real checks in-process (tests/audit.py) on a recorded fact set: a good
set passes, and each broken fact fails exactly the controls that own it. NVML itself is faked with
a small module object in sys.modules; nothing here needs a GPU.
"""
from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from plancheck.facts.base import Context, NoSource
from plancheck.facts.containers import ContainerFacts
from plancheck.facts.gpu import (NO_NVML, GpuFacts, GpuSource, container_id_from_cgroup, exposed_gpus,
                                 read_container_id, read_nvml, requested_gpus)
from plancheck.profile import load_profile
from tests.audit import ROOT, run_audit

CID = {n: (f"{i:x}" * 64)[:64] for i, n in enumerate(
    ["llm-server", "vector-db", "training-server", "api-server", "chat-server", "mariadb"], start=10)}
GPU_CONTAINERS = {"llm-server": ["0", "1"], "vector-db": ["2"], "training-server": ["2"], "api-server": ["3"]}
GPU_ONLY = ["-k", "gpu"]
SELECT = ["-k", "hardware or gpu"]
LAB = ["-k", "gpu and not allocation and not pinning"]  # what bench/gpu_lab_check.sh runs: NVML, no Docker


# --- recorded fact builders ------------------------------------------------------------------------
def gpu_device(i: int, **over: Any) -> dict[str, Any]:
    d = {"index": i, "name": "NVIDIA RTX 4000 Ada Generation", "uuid": f"GPU-0000000{i}-aaaa-bbbb-cccc-dddddddddddd",
         "pci_bus_id": f"00000000:{0x17 + i:02X}:00.0", "memory_total": 20475 * 2**20, "ecc": True,
         "persistence": True, "mig": "not supported", "pcie_generation": 1, "pcie_generation_max": 4,
         "pcie_width": 16, "pcie_width_max": 16, "temperature": 35, "power_limit_w": 130.0}
    d.update(over)
    return d


def process(pid: int, gpu: int, service: str | None, **over: Any) -> dict[str, Any]:
    p: dict[str, Any] = {"pid": pid, "gpu": gpu, "used_memory": 2**30, "name": "python3"}
    if service:
        p.update(container_id=CID[service], container_name=f"plancheck-baseline-{service}-1",
                 compose_project="plancheck-baseline", compose_service=service)
    p.update(over)
    return p


def good_gpu() -> dict[str, Any]:
    procs = [process(100 + n, int(g), svc) for n, (svc, gs) in enumerate(GPU_CONTAINERS.items()) for g in gs]
    return {"source": "NVML", "nvml_available": True, "driver_version": "550.54.15", "cuda_version": "12.4",
            "gpus": [gpu_device(i) for i in range(4)], "processes": procs, "container_lookup": "docker",
            "docker_runtimes": ["io.containerd.runc.v2", "nvidia", "runc"],
            "container_toolkit": "/usr/bin/nvidia-container-runtime-hook"}


def container(name: str, gpus: list[str] | None = None, **over: Any) -> dict[str, Any]:
    c = ContainerFacts(
        name=name, image=f"registry.local/{name}:1.0", running=True, health="healthy", memory=2**30, cpus=1.0,
        pids_limit=512, restart="unless-stopped", privileged=False, cap_add=[], cap_drop=["ALL"],
        no_new_privileges=True, seccomp_unconfined=False, read_only=True, user="1000", network_mode="default",
        pid_mode="", ipc_mode="", uts_mode="", userns_mode="", mounts=[], devices=[], log_driver="json-file",
        log_opts={}, networks=[], ports=[], healthcheck=True, gpu_device_ids=gpus, runtime="runc",
        env_visible_devices=None).model_dump(mode="json")
    c.update(over)
    return c


def good_containers() -> dict[str, Any]:
    ctrs = {n: container(n, ids) for n, ids in GPU_CONTAINERS.items()}
    ctrs.update({n: container(n) for n in ("chat-server", "mariadb")})
    return {"source": "docker inspect (recorded)", "project": "plancheck-baseline", "containers": ctrs,
            "networks": {}}


def good() -> dict[str, Any]:
    return {"gpu": good_gpu(), "containers": good_containers()}


def failed_ids(res: Any) -> set[str]:
    return {c["control"] for c in res.checks if c["outcome"] in ("failed", "error")}


def items(res: Any, outcome: str) -> set[str]:
    return {c["nodeid"].split("::")[1] for c in res.checks if c["outcome"] == outcome}


def profile_file(tmp_path: Path, name: str, body: str, base: str = "prod") -> str:
    """A profile extending profiles/BASE.yaml with BODY, written under tmp_path; returns its path."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"extends: {ROOT / 'profiles' / base}.yaml\nname: {name}\n{body}")
    return str(path)


# --- controls on recorded facts --------------------------------------------------------------------
def test_good_facts_pass(tmp_path: Path) -> None:
    res = run_audit(tmp_path, "prod", facts=good(), args=SELECT)
    assert failed_ids(res) == set(), [c["message"] for c in res.checks if c["outcome"] == "failed"]
    gpu = {c["control"] for c in res.checks if c["control"].startswith("GPU-") and c["outcome"] == "passed"}
    assert gpu == {f"GPU-{i:03d}" for i in range(1, 16)}
    assert "test_gpu_users_as_planned[gpu2]" in items(res, "passed")  # vector-db and training-server share GPU 2


@pytest.mark.breaks("GPU-001")
def test_card_missing(tmp_path: Path) -> None:
    facts = good()
    facts["gpu"]["gpus"] = facts["gpu"]["gpus"][:3]
    facts["gpu"]["processes"] = [p for p in facts["gpu"]["processes"] if p["gpu"] != 3]
    res = run_audit(tmp_path, "prod", facts=facts, args=SELECT)
    assert failed_ids(res) == {"GPU-001"}
    msg = next(c["message"] for c in res.checks if c["control"] == "GPU-001")
    assert "expected 4, found 3" in msg
    assert "test_gpu_model[gpu3]" in items(res, "skipped")  # reported once, by GPU-001


@pytest.mark.breaks("GPU-002")
def test_wrong_model(tmp_path: Path) -> None:
    facts = good()
    facts["gpu"]["gpus"][1]["name"] = "NVIDIA RTX 4000 SFF Ada Generation"  # a different card of the same family
    res = run_audit(tmp_path, "prod", facts=facts, args=SELECT)
    assert failed_ids(res) == {"GPU-002"}
    assert items(res, "failed") == {"test_gpu_model[gpu1]"}


@pytest.mark.breaks("GPU-003")
def test_small_memory(tmp_path: Path) -> None:
    facts = good()
    facts["gpu"]["gpus"][0]["memory_total"] = 16 * 2**30
    assert failed_ids(run_audit(tmp_path, "prod", facts=facts, args=SELECT)) == {"GPU-003"}


@pytest.mark.parametrize("field,value,control", [
    pytest.param(field, value, control, marks=pytest.mark.breaks(control)) for field, value, control in [
        ("ecc", False, "GPU-005"),
        ("ecc", "not supported", "GPU-005"),
        ("persistence", False, "GPU-006"),
        ("mig", True, "GPU-007"),
        ("pcie_generation_max", 3, "GPU-008"),
        ("pcie_width", 8, "GPU-008"),
    ]])
def test_gpu_mode_wrong(tmp_path: Path, field: str, value: Any, control: str) -> None:
    facts = good()
    facts["gpu"]["gpus"][2][field] = value
    res = run_audit(tmp_path, "prod", facts=facts, args=GPU_ONLY)
    assert failed_ids(res) == {control}
    assert {i.split("[")[1] for i in items(res, "failed")} == {"gpu2]"}


@pytest.mark.breaks("GPU-004")
def test_driver_too_old(tmp_path: Path) -> None:
    facts = good()
    facts["gpu"]["driver_version"] = "525.105.17"
    res = run_audit(tmp_path, "prod", facts=facts, args=SELECT)
    assert failed_ids(res) == {"GPU-004"}
    assert "expected >= 535.0, found 525.105.17" in next(c["message"] for c in res.checks if c["control"] == "GPU-004")


@pytest.mark.breaks("GPU-013")
@pytest.mark.breaks("GPU-015")
def test_process_on_wrong_gpu(tmp_path: Path) -> None:
    facts = good()
    facts["gpu"]["processes"].append(process(999, 3, "llm-server"))  # llm-server is pinned to 0 and 1
    res = run_audit(tmp_path, "prod", facts=facts, args=SELECT)
    assert failed_ids(res) == {"GPU-013", "GPU-015"}
    assert items(res, "failed") == {"test_processes_on_planned_gpus[llm-server]", "test_gpu_users_as_planned[gpu3]"}


@pytest.mark.breaks("GPU-014")
@pytest.mark.breaks("GPU-015")
def test_unplanned_container_holds_gpu_observed(tmp_path: Path) -> None:
    facts = good()
    facts["gpu"]["processes"].append(process(4242, 0, "mariadb"))
    res = run_audit(tmp_path, "prod", facts=facts, args=SELECT)
    assert failed_ids(res) == {"GPU-014", "GPU-015"}
    assert items(res, "failed") == {"test_processes_none_unplanned[mariadb]", "test_gpu_users_as_planned[gpu0]"}


@pytest.mark.breaks("GPU-015")
def test_host_process_shares_a_gpu(tmp_path: Path) -> None:
    facts = good()
    facts["gpu"]["processes"].append(process(77, 1, None, name="cuda_hold"))
    res = run_audit(tmp_path, "prod", facts=facts, args=SELECT)
    assert failed_ids(res) == {"GPU-015"}
    msg = next(c["message"] for c in res.checks if c["outcome"] == "failed")
    assert "host process cuda_hold (pid 77)" in msg


def test_unattributable_process_errors_use_controls(tmp_path: Path) -> None:
    facts = good()
    facts["gpu"]["processes"].append({"pid": 55, "gpu": 0, "container_id": "f" * 64})
    facts["gpu"]["container_lookup"] = {"reason": "cannot map GPU processes to services: docker not reachable"}
    res = run_audit(tmp_path, "prod", facts=facts, args=SELECT)
    # pinning cannot be judged: an error naming the cause, never a skip or a pass
    assert res.failed == set()
    judged = [c for c in res.checks if c["control"] in ("GPU-013", "GPU-014", "GPU-015")]
    assert judged and all(c["outcome"] == "error" and "docker not reachable" in c["message"] for c in judged)


@pytest.mark.breaks("GPU-009")
def test_nvidia_runtime_missing(tmp_path: Path) -> None:
    facts = good()
    facts["gpu"].update(docker_runtimes=["io.containerd.runc.v2", "runc"], container_toolkit=None)
    res = run_audit(tmp_path, "prod", facts=facts, args=SELECT)
    assert failed_ids(res) == {"GPU-009"}
    assert "no nvidia-container-runtime-hook/nvidia-ctk on the host" in \
        next(c["message"] for c in res.checks if c["control"] == "GPU-009")


def test_nvml_absent_fails_every_gpu_control_under_prod(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    facts = good()
    facts["gpu"] = {"source": "NVML", "nvml_available": False, "reason": NO_NVML,
                    "nvml_error": "NVML Shared Library Not Found"}
    res = run_audit(tmp_path, "prod", facts=facts, args=SELECT, capsys=capsys)
    gpu = [c for c in res.checks if c["control"].startswith("GPU-")]
    assert {c["control"] for c in gpu} == {f"GPU-{i:03d}" for i in range(1, 16)}
    assert all(c["outcome"] == "failed" and NO_NVML in c["message"] and "\n" not in c["message"] for c in gpu)
    assert "Traceback" not in res.out
    assert res.exit_code == 1


def test_nvml_absent_skips_without_gpu_required(tmp_path: Path) -> None:
    facts = good()
    facts["gpu"] = {"source": "NVML", "nvml_available": False, "reason": NO_NVML}
    res = run_audit(tmp_path, profile_file(tmp_path, "no-gpu", "gpu_required: false\n"), facts=facts, args=SELECT)
    gpu = [c for c in res.checks if c["control"].startswith("GPU-")]
    assert gpu and all(c["outcome"] == "skipped" and c["message"] == NO_NVML for c in gpu)


@pytest.mark.breaks("GPU-010")
@pytest.mark.breaks("GPU-011")
def test_compose_pinning_wrong_without_nvml_facts(tmp_path: Path) -> None:
    """The desired side: compose facts alone (no GPU facts recorded, as in static mode)."""
    facts = {"containers": good_containers()}
    facts["containers"]["containers"]["llm-server"]["gpu_device_ids"] = ["0"]
    facts["containers"]["containers"]["vector-db"]["gpu_device_ids"] = []  # `count: 1`, no device_ids
    res = run_audit(tmp_path, "prod", facts=facts, args=SELECT)
    assert failed_ids(res) == {"GPU-010", "GPU-011"}
    assert items(res, "failed") == {f"test_pinning_{k}[{c}]" for k in ("reservation", "exposure")
                                    for c in ("llm-server", "vector-db")}
    assert "a request by count without device_ids" in \
        next(c["message"] for c in res.checks if c["nodeid"].endswith("test_pinning_reservation[vector-db]"))


def test_platform_without_gpus_may_leave_reservations_out(tmp_path: Path) -> None:
    """gpu_required: false (a GPU-less platform): no reservation is expected; a wrong one still fails."""
    facts = {"containers": good_containers()}
    facts["containers"]["containers"]["llm-server"]["gpu_device_ids"] = None
    facts["containers"]["containers"]["vector-db"]["gpu_device_ids"] = ["3"]
    res = run_audit(tmp_path, profile_file(tmp_path, "no-gpu", "gpu_required: false\n"), facts=facts, args=SELECT)
    assert items(res, "failed") == {"test_pinning_reservation[vector-db]", "test_pinning_exposure[vector-db]"}
    assert {"test_pinning_reservation[llm-server]", "test_pinning_exposure[llm-server]"} <= items(res, "skipped")


@pytest.mark.breaks("GPU-010")
@pytest.mark.breaks("GPU-011")
def test_inspect_pinning_by_uuid(tmp_path: Path) -> None:
    facts = good()
    uuids = [g["uuid"] for g in facts["gpu"]["gpus"]]
    facts["containers"]["containers"]["api-server"]["gpu_device_ids"] = [uuids[3]]  # right card, by UUID
    facts["containers"]["containers"]["llm-server"]["gpu_device_ids"] = [uuids[0], uuids[2]]  # wrong second card
    res = run_audit(tmp_path, "prod", facts=facts, args=SELECT)
    assert failed_ids(res) == {"GPU-010", "GPU-011"}
    assert items(res, "failed") == {"test_pinning_reservation[llm-server]", "test_pinning_exposure[llm-server]"}


@pytest.mark.breaks("GPU-011")
def test_inspect_device_node_widens_exposure(tmp_path: Path) -> None:
    facts = good()
    facts["containers"]["containers"]["vector-db"]["devices"] = ["/dev/nvidia3"]
    res = run_audit(tmp_path, "prod", facts=facts, args=SELECT)
    assert failed_ids(res) == {"GPU-011"}


@pytest.mark.breaks("GPU-012")
@pytest.mark.parametrize("over", [
    {"gpu_device_ids": ["1"]},
    {"gpu_device_ids": ["all"]},
    {"runtime": "nvidia", "env_visible_devices": "all"},
    {"runtime": "nvidia"},  # NVIDIA_VISIBLE_DEVICES unset: whatever the image sets
    {"devices": ["nvidia.com/gpu=0"]},
])
def test_container_without_planned_gpu_configured_with_one(tmp_path: Path, over: dict[str, Any]) -> None:
    facts = good()
    facts["containers"]["containers"]["chat-server"].update(over)
    res = run_audit(tmp_path, "prod", facts=facts, args=SELECT)
    assert failed_ids(res) == {"GPU-012"}
    assert items(res, "failed") == {"test_pinning_none_unplanned[chat-server]"}


def test_runtime_nvidia_with_no_devices_is_not_a_gpu(tmp_path: Path) -> None:
    facts = good()
    facts["containers"]["containers"]["chat-server"].update(runtime="nvidia", env_visible_devices="void")
    assert failed_ids(run_audit(tmp_path, "prod", facts=facts, args=SELECT)) == set()


def test_gpu_lab_profile(tmp_path: Path) -> None:
    """The lab profile on one H100's facts: every NVML control passes; a 4-GPU profile fails only GPU-001."""
    facts = {"gpu": {"source": "NVML", "nvml_available": True, "driver_version": "550.90.07", "cuda_version": "12.4",
                     "gpus": [gpu_device(0, name="NVIDIA H100 80GB HBM3", memory_total=81559 * 2**20, mig=False,
                                         persistence=False, pcie_generation_max=5)],
                     "docker_runtimes": {"reason": "the docker SDK is not installed here: Docker not observed",
                                         "kind": "absent"}}}
    (tmp_path / "lab").mkdir()
    (tmp_path / "four").mkdir()
    lab = run_audit(tmp_path / "lab", "gpu-lab", facts=facts, args=LAB)
    assert failed_ids(lab) == set()
    assert {c["control"] for c in lab.checks if c["outcome"] == "passed"} >= \
        {"GPU-001", "GPU-002", "GPU-003", "GPU-004", "GPU-005", "GPU-007", "GPU-008", "GPU-015"}
    four = profile_file(tmp_path, "gpu-lab-4", "hardware: {gpu: {count: 4}}\n", base="gpu-lab")
    res = run_audit(tmp_path / "four", four, facts=facts, args=LAB)
    assert failed_ids(res) == {"GPU-001"}


# --- NVML reader with a fake pynvml ----------------------------------------------------------------
class FakeNVMLError(Exception):
    def __init__(self, value: int):
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return {12: "NVML Shared Library Not Found", 3: "Not Supported", 4: "Insufficient Permissions"}.get(
            self.value, f"error {self.value}")


def fake_nvml(gpus: list[dict[str, Any]] | None = None, init_error: int | None = None,
              procs: dict[int, list[int]] | None = None) -> types.ModuleType:
    m = types.ModuleType("pynvml")
    m.NVMLError = FakeNVMLError  # type: ignore[attr-defined]
    for const, value in (("NVML_ERROR_NOT_SUPPORTED", 3), ("NVML_ERROR_NO_PERMISSION", 4),
                         ("NVML_ERROR_FUNCTION_NOT_FOUND", 13), ("NVML_TEMPERATURE_GPU", 0)):
        setattr(m, const, value)
    gpus = gpus if gpus is not None else [{"name": "NVIDIA RTX 4000 Ada Generation"}]
    procs = procs or {}
    ns = types.SimpleNamespace

    def init() -> None:
        if init_error is not None:
            raise FakeNVMLError(init_error)

    def unsupported(*_: Any) -> Any:
        raise FakeNVMLError(3)

    m.nvmlInit, m.nvmlShutdown = init, lambda: None  # type: ignore[attr-defined]
    m.nvmlSystemGetDriverVersion = lambda: b"550.54.15"  # type: ignore[attr-defined]  (old pynvml: bytes)
    m.nvmlSystemGetCudaDriverVersion = lambda: 12040  # type: ignore[attr-defined]
    m.nvmlDeviceGetCount = lambda: len(gpus)  # type: ignore[attr-defined]
    m.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    m.nvmlDeviceGetName = lambda h: gpus[h]["name"]  # type: ignore[attr-defined]
    m.nvmlDeviceGetUUID = lambda h: f"GPU-{h}"  # type: ignore[attr-defined]
    m.nvmlDeviceGetPciInfo = lambda h: ns(busId=f"00000000:{h + 1:02X}:00.0")  # type: ignore[attr-defined]
    m.nvmlDeviceGetMemoryInfo = lambda h: ns(total=20475 * 2**20, used=0, free=0)  # type: ignore[attr-defined]
    m.nvmlDeviceGetEccMode = lambda h: [1, 1]  # type: ignore[attr-defined]
    m.nvmlDeviceGetPersistenceMode = lambda h: 0  # type: ignore[attr-defined]
    m.nvmlDeviceGetMigMode = unsupported  # type: ignore[attr-defined]
    m.nvmlDeviceGetCurrPcieLinkGeneration = lambda h: 1  # type: ignore[attr-defined]
    m.nvmlDeviceGetMaxPcieLinkGeneration = lambda h: 4  # type: ignore[attr-defined]
    m.nvmlDeviceGetCurrPcieLinkWidth = lambda h: 16  # type: ignore[attr-defined]
    m.nvmlDeviceGetMaxPcieLinkWidth = lambda h: 16  # type: ignore[attr-defined]

    def temperature(h: int, sensor: int) -> int:
        raise FakeNVMLError(999)  # an unexpected error on an optional field: None plus a note

    m.nvmlDeviceGetTemperature = temperature  # type: ignore[attr-defined]
    m.nvmlDeviceGetEnforcedPowerLimit = lambda h: 130000  # type: ignore[attr-defined]

    def compute_v3(h: int) -> list[Any]:
        raise FakeNVMLError(13)  # an older driver: no _v3 entry point

    m.nvmlDeviceGetComputeRunningProcesses = compute_v3  # type: ignore[attr-defined]
    m.nvmlDeviceGetComputeRunningProcesses_v2 = lambda h: [  # type: ignore[attr-defined]
        ns(pid=pid, usedGpuMemory=None) for pid in procs.get(h, [])]
    m.nvmlSystemGetProcessName = lambda pid: f"/usr/bin/proc{pid}"  # type: ignore[attr-defined]
    return m


def test_read_nvml() -> None:
    facts = read_nvml(fake_nvml(gpus=[{"name": "A"}, {"name": "B"}], procs={1: [321]}))
    assert facts.nvml_available and facts.driver_version == "550.54.15" and facts.cuda_version == "12.4"
    g = facts.gpus[1]
    assert (g.index, g.name, g.uuid, g.pci_bus_id) == (1, "B", "GPU-1", "00000000:02:00.0")
    assert (g.ecc, g.persistence, g.mig) == (True, False, "not supported")
    assert (g.pcie_generation, g.pcie_generation_max, g.pcie_width, g.power_limit_w) == (1, 4, 16, 130.0)
    assert g.temperature is None and any("temperature" in e for e in facts.errors)
    assert [(p.pid, p.gpu, p.name) for p in facts.processes] == [(321, 1, "proc321")]


@pytest.mark.parametrize("code,reason", [(12, NO_NVML), (9, NO_NVML), (4, "NVML refused access")])
def test_read_nvml_absent(code: int, reason: str) -> None:
    facts = read_nvml(fake_nvml(init_error=code))
    assert not facts.nvml_available and facts.reason.startswith(reason) and facts.gpus == []


def test_gpu_source_live_with_fake_pynvml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(procs={0: [4321, 4322]}))
    proc = tmp_path / "proc"
    (proc / "4321").mkdir(parents=True)
    (proc / "4321" / "cgroup").write_text(f"0::/system.slice/docker-{CID['llm-server']}.scope\n")
    (proc / "4322").mkdir()
    (proc / "4322" / "cgroup").write_text("0::/user.slice/user-1000.slice/session-3.scope\n")
    import plancheck.facts.gpu as gpu_mod

    monkeypatch.setattr(gpu_mod, "read_container_id", lambda pid: read_container_id(pid, proc))

    class FakeApi:
        def inspect_container(self, cid: str) -> dict[str, Any]:
            assert cid == CID["llm-server"]
            return {"Name": "/plancheck-baseline-llm-server-1", "Config": {"Labels": {
                "com.docker.compose.project": "plancheck-baseline", "com.docker.compose.service": "llm-server"}}}

    class FakeClient:
        api = FakeApi()

        def info(self) -> dict[str, Any]:
            return {"Runtimes": {"runc": {}, "nvidia": {}}}

        def close(self) -> None:
            pass

    monkeypatch.setattr(gpu_mod, "_docker", lambda ctx: (FakeClient(), None))
    ctx = Context(profile=load_profile("prod", ROOT / "profiles"), root=ROOT, mode="live")
    facts = GpuSource().live(ctx)
    assert facts.docker_runtimes == ["nvidia", "runc"] and facts.container_lookup == "docker"
    by_pid = {p.pid: p for p in facts.processes}
    assert by_pid[4321].compose_service == "llm-server" and by_pid[4321].container_id == CID["llm-server"]
    assert by_pid[4322].container_id is None and by_pid[4322].compose_service is None
    json.dumps(facts.model_dump(mode="json"))  # recordable (--dump-facts)


def test_gpu_source_live_without_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(procs={0: [4321]}))
    import plancheck.facts.gpu as gpu_mod

    monkeypatch.setattr(gpu_mod, "read_container_id", lambda pid: (CID["mariadb"], ""))
    monkeypatch.setattr(gpu_mod, "_docker", lambda ctx: (None, "cannot reach the docker engine at unix:///x"))
    ctx = Context(profile=load_profile("prod", ROOT / "profiles"), root=ROOT, mode="live")
    facts = GpuSource().live(ctx)
    assert facts.processes[0].compose_service is None
    assert "cannot reach the docker engine" in facts.container_lookup.reason  # type: ignore[union-attr]
    assert "cannot reach the docker engine" in facts.docker_runtimes.reason  # type: ignore[union-attr]


def test_gpu_source_live_without_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(init_error=12))
    ctx = Context(profile=load_profile("prod", ROOT / "profiles"), root=ROOT, mode="live")
    facts = GpuSource().live(ctx)
    assert not facts.nvml_available and facts.reason == NO_NVML


def test_gpu_source_static_has_no_source() -> None:
    ctx = Context(profile=load_profile("prod", ROOT / "profiles"), root=ROOT, mode="static")
    with pytest.raises(NoSource, match="hardware is only observable on the host"):
        GpuSource().static(ctx)


# --- cgroup parsing and container exposure ----------------------------------------------------------
H = "0123456789abcdef" * 4


@pytest.mark.parametrize("text,expected", [
    (f"0::/system.slice/docker-{H}.scope\n", H),  # cgroup v2, systemd driver
    (f"0::/docker/{H}\n", H),  # cgroup v2, cgroupfs driver
    (f"12:devices:/docker/{H}\n11:memory:/docker/{H}\n", H),  # cgroup v1
    (f"1:name=systemd:/system.slice/docker-{H}.scope\n0::/\n", H),
    (f"0::/user.slice/user-1000.slice/user@1000.service/app.slice/docker-{H}.scope\n", H),  # rootless
    ("0::/user.slice/user-1000.slice/session-2.scope\n", None),
    ("0::/system.slice/docker.service\n", None),  # dockerd itself
    (f"0::/kubepods/besteffort/pod1/cri-containerd-{H}.scope\n", None),  # not Docker
    (f"0::/docker/{H[:12]}\n", None),  # a short id is not a container cgroup
    ("", None),
])
def test_container_id_from_cgroup(text: str, expected: str | None) -> None:
    assert container_id_from_cgroup(text) == expected


def test_read_container_id_without_proc_entry(tmp_path: Path) -> None:
    cid, note = read_container_id(99999, tmp_path)
    assert cid is None and "another PID namespace" in note


def _ctr(**over: Any) -> ContainerFacts:
    return ContainerFacts.model_validate(container("x", **over))


@pytest.mark.parametrize("over,expected", [
    ({}, set()),
    ({"gpu_device_ids": ["0", "1"]}, {0, 1}),
    ({"gpu_device_ids": ["GPU-3"]}, {3}),  # UUID mapped through NVML facts
    ({"gpu_device_ids": ["GPU-9"]}, {"GPU-9"}),  # unknown UUID kept as written
    ({"gpu_device_ids": ["all"]}, {"all"}),
    ({"gpu_device_ids": ["2"], "runtime": "nvidia", "env_visible_devices": "all"}, {2}),  # the request wins
    ({"runtime": "nvidia", "env_visible_devices": "1,2"}, {1, 2}),
    ({"runtime": "nvidia", "env_visible_devices": "none"}, set()),
    ({"runtime": "runc", "env_visible_devices": "all"}, set()),  # the variable means nothing without the runtime
    ({"devices": ["/dev/nvidia2", "/dev/nvidiactl", "/dev/nvidia-uvm"]}, {2}),
    ({"devices": ["nvidia.com/gpu=1"]}, {1}),
])
def test_exposed_gpus(over: dict[str, Any], expected: set[Any]) -> None:
    got, how = exposed_gpus(_ctr(**over), {"GPU-3": 3})
    assert got == expected
    assert bool(how) == bool(expected) or over.get("env_visible_devices") == "none"


def test_requested_gpus() -> None:
    assert requested_gpus(_ctr(), {}) is None
    assert requested_gpus(_ctr(gpu_device_ids=[]), {}) == []
    assert requested_gpus(_ctr(gpu_device_ids=["1", "0", "GPU-x"]), {}) == [0, 1, "GPU-x"]


def test_gpu_facts_roundtrip() -> None:
    facts = GpuFacts.model_validate(good_gpu())
    again = GpuFacts.model_validate(json.loads(json.dumps(facts.model_dump(mode="json"))))
    assert again == facts and again.gpus[0].mig == "not supported" and again.gpus[0].ecc is True
