"""DKR-0xx beside docker-bench-security 1.6 on this host: one row per CIS id of sections 1-3.

    sudo .venv/bin/python bench/docker_bench_compare.py --bench /path/to/docker-bench-security \
        [--profile baseline] [--out /tmp/dkr-compare] [--json]

docker-bench-security is not vendored: give a checkout (git clone https://github.com/docker/docker-bench-security,
or DOCKER_BENCH_DIR). It is copied to a scratch directory and run from there (it writes log/ into its working
directory) as `docker-bench-security.sh -b -c host_configuration,docker_daemon_configuration,docker_daemon_files
-l OUT/docker-bench.log`, which also writes OUT/docker-bench.log.json:
    {"dockerbenchsecurity": "1.6.0", "start": N, "tests": [{"id": "1", "desc": ..., "results": [
        {"id": "1.1.1", "desc": ..., "result": "PASS|WARN|INFO|NOTE", "details": ..., ...}, ...]}, ...],
     "checks": N, "score": N, "end": N}
Then plancheck's live audit of the same family (`pytest checks --profile=P -k test_docker_daemon.py`), whose
OUT/reports/latest/results.json gives one record per check. Both only read the host and the daemon (docker
info/ps/inspect, /proc, stat, auditctl -l).

Verdicts are matched per CIS id: PASS~passed and WARN~failed agree; WARN against a check skipped as an
accepted deviation of the profile is "accepted" (both see the deviation); INFO/NOTE (docker-bench's manual
or not-applicable checks) against passed or skipped is "info"; anything else is a disagreement, listed with
both sides' evidence. The exit code is 0 when both ran, whatever they found.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GROUPS = "host_configuration,docker_daemon_configuration,docker_daemon_files"
# DKR-021's items (docker_daemon.files keys) -> the docker-bench ids of their ownership and mode checks
FILE_IDS = {"docker.service": ("3.1", "3.2"), "docker.socket": ("3.3", "3.4"), "/etc/docker": ("3.5", "3.6"),
            "certs.d": ("3.7", "3.8"), "tlscacert": ("3.9", "3.10"), "tlscert": ("3.11", "3.12"),
            "tlskey": ("3.13", "3.14"), "docker.sock": ("3.15", "3.16"), "daemon.json": ("3.17", "3.18"),
            "/etc/default/docker": ("3.19", "3.20"), "/etc/sysconfig/docker": ("3.21", "3.22"),
            "containerd.sock": ("3.23", "3.24")}


def run_bench(bench: Path, out: Path, timeout: int) -> Path:
    script = bench / "docker-bench-security.sh"
    if not script.is_file():
        sys.exit(f"no docker-bench-security.sh in {bench} (give a checkout with --bench or DOCKER_BENCH_DIR)")
    work = Path(tempfile.mkdtemp(prefix="docker-bench-"))
    try:
        shutil.copytree(bench, work / "bench", ignore=shutil.ignore_patterns(".git", "log"))
        log = out / "docker-bench.log"
        cmd = ["bash", "docker-bench-security.sh", "-b", "-c", GROUPS, "-l", str(log)]
        print(f"$ (cd {bench}) {' '.join(cmd)}", file=sys.stderr)
        r = subprocess.run(cmd, cwd=work / "bench", capture_output=True, text=True, timeout=timeout)
        (out / "docker-bench.stdout").write_text(r.stdout + r.stderr)
        if r.returncode != 0 or not Path(f"{log}.json").is_file():
            sys.exit(f"docker-bench-security failed (exit {r.returncode}): "
                     f"{(r.stderr or r.stdout).strip().splitlines()[-1:] or 'no output'}")
        return Path(f"{log}.json")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench_results(path: Path) -> dict[str, dict[str, str]]:
    """docker-bench's log.json -> {id: {"desc", "result", "details"}}. Its JSON is printf-built; where a
    description or detail breaks it (a quote), the test objects are read one by one instead."""
    text = path.read_text(encoding="utf-8", errors="replace")
    out: dict[str, dict[str, str]] = {}
    try:
        doc = json.loads(text)
        for section in doc.get("tests", []):
            for t in section.get("results", []):
                out[str(t.get("id"))] = {"desc": str(t.get("desc", "")), "result": str(t.get("result", "")),
                                         "details": str(t.get("details", ""))}
        return out
    except ValueError:
        pass
    for m in re.finditer(r'"id":\s*"([\d.]+)",\s*"desc":\s*"(.*?)",\s*"result":\s*"([A-Z]+)"'
                         r'(?:,\s*"details":\s*"(.*?)")?', text, re.S):
        out[m.group(1)] = {"desc": m.group(2), "result": m.group(3), "details": m.group(4) or ""}
    return out


def run_ours(profile: str, out: Path, timeout: int) -> Path:
    reports = out / "reports"
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "checks"), f"--profile={profile}", "-k", "test_docker_daemon.py",
           f"--reports-dir={reports}", "-q", "-p", "no:cacheprovider", f"--rootdir={ROOT}",
           "-c", str(ROOT / "pyproject.toml")]
    print(f"$ {' '.join(cmd)}", file=sys.stderr)
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    (out / "plancheck.stdout").write_text(r.stdout + r.stderr)
    results = reports / "latest" / "results.json"
    if not results.is_file():  # a failing audit exits non-zero and still writes results; none is a crash
        sys.exit(f"plancheck wrote no results (exit {r.returncode}): {(r.stdout + r.stderr).strip()[-300:]}")
    return results


def bench_ids(rec: dict[str, Any]) -> list[str]:
    """The docker-bench ids one of our records answers."""
    param = m.group(1) if (m := re.search(r"\[(.*)\]$", rec["nodeid"])) else ""
    if rec["control"] == "DKR-003":
        return [param]
    if rec["control"] == "DKR-021":
        return list(FILE_IDS.get(param, ()))
    return [t.split(":", 1)[1] for t in rec.get("tags", []) if t.startswith("docker-bench-1.6:")]


def verdict(bench: str, ours: str, message: str) -> str:
    if not ours:
        return "not covered"
    if (bench, ours) in (("PASS", "passed"), ("WARN", "failed")):
        return "agree"
    if bench == "WARN" and ours == "skipped" and "accepted deviation" in message:
        return "accepted"
    if bench in ("INFO", "NOTE") and ours in ("passed", "skipped"):
        return "info"
    return "DISAGREE"


def _key(i: str) -> tuple[int, ...]:
    return tuple(int(x) for x in i.split(".") if x.isdigit())


def compare(bench: dict[str, dict[str, str]], records: list[dict[str, Any]]) -> list[dict[str, str]]:
    ours: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        if rec.get("control", "").startswith("DKR-"):
            for i in bench_ids(rec):
                ours.setdefault(i, []).append(rec)
    rows = []
    for i in sorted(set(bench) | set(ours), key=_key):
        b = bench.get(i, {})
        if not b and i not in ours:
            continue
        recs = ours.get(i, [])
        # several of our checks on one id: the worst outcome speaks for them
        rank = {"error": 0, "failed": 1, "skipped": 2, "waived": 2, "passed": 3}
        rec = min(recs, key=lambda r: rank.get(r["outcome"], 0)) if recs else None
        outcome = rec["outcome"] if rec else ""
        msg = (rec.get("found") or rec.get("message") or "") if rec else ""
        rows.append({"id": i, "bench": b.get("result", "-"), "control": rec["control"] if rec else "-",
                     "ours": outcome or "-", "verdict": verdict(b.get("result", "-"), outcome, rec["message"] if rec else "")
                     if b else "not in docker-bench",
                     "desc": b.get("desc", ""), "bench_details": b.get("details", ""), "ours_found": msg})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", default=os.environ.get("DOCKER_BENCH_DIR"),
                    help="a docker-bench-security checkout (default: $DOCKER_BENCH_DIR)")
    ap.add_argument("--profile", default="baseline")
    ap.add_argument("--out", default=None, help="where the logs and reports go (default: a temp dir)")
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = ap.parse_args()
    if not args.bench:
        # make bench runs every script: without a docker-bench-security checkout there is no peer
        print("docker_bench_compare: skipped: give --bench PATH or DOCKER_BENCH_DIR (a docker-bench-security "
              "checkout, fetched, never vendored)")
        return 0
    out = Path(args.out or tempfile.mkdtemp(prefix="dkr-compare-")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    bench = bench_results(run_bench(Path(args.bench).resolve(), out, args.timeout))
    records = json.loads(run_ours(args.profile, out, args.timeout).read_text())["checks"]
    rows = compare(bench, records)
    if args.json:
        print(json.dumps(rows, indent=1, ensure_ascii=False))
        return 0
    print(f"{'CIS id':8} {'bench':6} {'control':8} {'ours':8} {'verdict':12} description")
    for r in rows:
        print(f"{r['id']:8} {r['bench']:6} {r['control']:8} {r['ours']:8} {r['verdict']:12} {r['desc'][:70]}")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    print("\n" + ", ".join(f"{v}: {n}" for v, n in sorted(counts.items())))
    for r in (r for r in rows if r["verdict"] == "DISAGREE"):
        print(f"\n{r['id']} {r['desc']}\n  docker-bench {r['bench']} {r['bench_details']}\n"
              f"  plancheck {r['control']} {r['ours']}: {r['ours_found'][:300]}")
    print(f"\nlogs and reports: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
