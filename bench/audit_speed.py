"""Wall time and peak memory of whole audits, beside their targets.

Targets (ours, from what users of InSpec and docker-bench report as pain): the static audit of the
plan under 10 s, the live audit of the running baseline under 30 s, each under 300 MB of memory
(InSpec alone is ~300 MB). Run: `.venv/bin/python bench/audit_speed.py` (the live part needs the
baseline up; it is skipped otherwise).
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"static": (10.0, 300), "live": (30.0, 300)}


def run(mode: str) -> tuple[float, int, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        args = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", f"--reports-dir={tmp}"]
        args += ["--profile=prod", "--static"] if mode == "static" else ["--profile=baseline"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.monotonic()
        subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
        wall = time.monotonic() - t0
        rss_mb = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) // 1024
        doc = json.loads((Path(tmp) / "latest" / "results.json").read_text())
    return wall, rss_mb, doc["summary"]


def main() -> int:
    ok = True
    for mode, (t_max, mb_max) in TARGETS.items():
        wall, mb, summary = run(mode)
        if mode == "live" and summary["error"] == summary["total"] - summary["passed"] - summary["skipped"] and \
                summary["error"] > 100:
            print(f"{mode:6s}: skipped (baseline not up: {summary['error']} errors)")
            continue
        rate = summary["total"] / wall if wall else 0
        good = wall <= t_max and mb <= mb_max
        ok &= good
        print(f"{mode:6s}: {summary['total']} checks in {wall:.1f} s ({rate:.0f} checks/s), peak {mb} MB "
              f"[target <= {t_max:.0f} s, <= {mb_max} MB: {'ok' if good else 'MISSED'}]")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
