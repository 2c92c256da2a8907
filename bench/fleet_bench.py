"""Fleet audit time against fleet size: the host-level controls (test_hardware, CT-027) over 1, 3 and
10 simulated hosts (network namespaces with their own sshd, tests/fleet/lab.py; torn down after
each size), each read through testinfra's ansible backend from an Ansible inventory.

Target: 10 hosts in less than 3x the time of one host (the hosts are read concurrently, so a fleet
costs its slowest host, not the sum). Needs root and openssh-server; touches no Docker and no baseline.

    .venv/bin/python bench/fleet_bench.py [--sizes 1,3,10] [--repeat 2] [-n 2]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fleet.lab import FleetLab, why_not  # noqa: E402

SELECT = "test_hardware or test_no_unplanned_containers"


def one_run(lab: FleetLab, extra: list[str]) -> tuple[float, dict]:
    lab.write_inventory()  # fresh ssh connections per run
    reports = lab.dir / f"rep{lab.runs}"
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "pytest", f"--profile={lab.dir / 'fleet.yaml'}", "-p", "no:cacheprovider",
                        "-q", "-k", SELECT, "--reports-dir", str(reports), *extra],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    wall = time.monotonic() - t0
    found = sorted(reports.glob("*/results.json"))
    if not found:
        raise SystemExit(f"no results.json (exit {r.returncode}): {r.stdout[-1500:]}{r.stderr[-1500:]}")
    return wall, json.loads(found[-1].read_text())


def bench(n: int, repeat: int, extra: list[str]) -> dict:
    with FleetLab(n) as lab:
        (lab.dir / "fleet.yaml").write_text(
            f"extends: {ROOT / 'profiles' / 'baseline.yaml'}\nname: fleet-bench\n"
            "hardware: {network: {speed: null, interfaces: [pcup0]}}\n"
            f"target:\n  fleet:\n    inventory: {lab.inventory}\n    groups: {{ai_hosts: {{docker: false}}}}\n")
        runs = [one_run(lab, extra) for _ in range(repeat)]
    wall = min(w for w, _ in runs)
    doc = min(runs, key=lambda x: x[0])[1]
    host_reads = [r["wall_s"] for k, r in doc["sources"].items() if k.startswith("host@")]
    errors = sum(h["error"] for h in doc["hosts"].values())
    return {"hosts": n, "wall_s": wall, "checks": doc["summary"]["total"], "errors": errors,
            "slowest_host_read_s": max(host_reads, default=0.0), "audit_s": doc["run"]["duration_s"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,3,10")
    ap.add_argument("--repeat", type=int, default=2, help="runs per size (the fastest counts)")
    ap.add_argument("-n", dest="workers", default=None, help="pytest-xdist workers (default: none)")
    args = ap.parse_args()
    why = why_not()
    if why:
        print(f"fleet_bench: skipped: cannot build the lab here: {why}")
        return 0
    extra = ["-n", args.workers] if args.workers else []
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = [bench(n, args.repeat, extra) for n in sizes]
    one = next((r["wall_s"] for r in rows if r["hosts"] == 1), rows[0]["wall_s"])
    print(f"fleet audit, host-level controls ({SELECT}){' -n ' + args.workers if args.workers else ''}, "
          f"fastest of {args.repeat}:")
    for r in rows:
        ratio = r["wall_s"] / one
        target = ""
        if r["hosts"] == 10:
            target = f"   target: < 3x one host ({3 * one:.1f} s): {'met' if ratio < 3 else 'MISSED'}"
        print(f"  {r['hosts']:>2} host(s): {r['wall_s']:6.2f} s wall ({ratio:.2f}x one host; pytest's own "
              f"audit {r['audit_s']:.2f} s, slowest host read {r['slowest_host_read_s']:.2f} s; "
              f"{r['checks']} checks, {r['errors']} errors){target}")
    return 0 if all(r["errors"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
