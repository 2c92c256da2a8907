"""Print what plancheck's GPU source sees on this host (NVML facts, processes and their owners), and
with --expect-pid say on which GPU that process was found. Used by bench/gpu_lab_check.sh.

    PYTHONPATH=. python3 bench/gpu_lab_facts.py [--profile gpu-lab] [--expect-pid N] [--json FILE]

Exit status: 0 fine; 1 the expected process is not in NVML's list; 2 NVML not available.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plancheck.facts import Context, FactStore  # noqa: E402
from plancheck.facts.base import Unavailable  # noqa: E402
from plancheck.profile import load_profile  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="gpu-lab")
    ap.add_argument("--expect-pid", type=int, default=None)
    ap.add_argument("--json", default=None, help="also write the facts (the recorded-facts shape) to this file")
    args = ap.parse_args()
    profile = load_profile(args.profile, ROOT / "profiles")
    store = FactStore(Context(profile=profile, root=ROOT, mode="live"))
    gpu = store.get("gpu")
    if args.json:
        Path(args.json).write_text(json.dumps({"gpu": gpu.model_dump(mode="json")}, indent=1))
    if not gpu.nvml_available:
        print(f"NVML: not available: {gpu.reason} ({gpu.nvml_error})")
        return 2
    runtimes = gpu.docker_runtimes.reason if isinstance(gpu.docker_runtimes, Unavailable) else gpu.docker_runtimes
    print(f"NVML: driver {gpu.driver_version}, CUDA {gpu.cuda_version}, {len(gpu.gpus)} GPU(s); "
          f"docker runtimes: {runtimes}; container toolkit: {gpu.container_toolkit}")
    for g in gpu.gpus:
        print(f"  GPU {g.index}: {g.name} {g.uuid} bus {g.pci_bus_id} memory {g.memory_total / 2**30:.2f} GiB "
              f"ECC {g.ecc} persistence {g.persistence} MIG {g.mig} PCIe Gen{g.pcie_generation}/max "
              f"Gen{g.pcie_generation_max} x{g.pcie_width}/max x{g.pcie_width_max} {g.temperature} C "
              f"power limit {g.power_limit_w} W")
    for e in gpu.errors:
        print(f"  (NVML could not read: {e})")
    if not gpu.processes:
        print("  no compute processes")
    for p in gpu.processes:
        owner = (f"service {p.compose_service} ({p.compose_project})" if p.compose_service else
                 f"container {p.container_name or p.container_id}" if p.container_id else
                 f"host process ({p.note})" if p.note else "host process (not in a container)")
        mem = f"{p.used_memory / 2**20:.0f} MiB" if p.used_memory is not None else "memory n/a"
        print(f"  process pid {p.pid} ({p.name or '?'}) on GPU {p.gpu}, {mem}: {owner}")
    if args.expect_pid is None:
        return 0
    found = [p for p in gpu.processes if p.pid == args.expect_pid]
    if found:
        p = found[0]
        print(f"FOUND: pid {p.pid} on GPU {p.gpu} ({gpu.gpus[p.gpu].name if p.gpu < len(gpu.gpus) else '?'}), "
              f"container {p.container_id or 'none (host process)'}")
        return 0
    print(f"NOT FOUND: pid {args.expect_pid} is not among NVML's compute processes "
          f"{[p.pid for p in gpu.processes]} (a PID namespace apart from the driver's shows other PIDs)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
