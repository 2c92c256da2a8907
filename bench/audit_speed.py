"""Wall time, framework overhead and peak memory of whole audits, beside their targets.

Figures and targets:
- static audit of `prod` (the pre-change gate): wall time of the whole command < 3 s, peak RSS of the
  process < 250 MB, checks per second;
- framework overhead per check < 1 ms: an audit of `baseline` on recorded facts (tests/data/good through
  tests/audit.py's load_good_facts, `--facts`), the run's own duration minus the time its sources took
  to load from the recording, divided by the number of checks;
- a plan with ten times the containers and endpoints (bench/scale_bench.py): its static audit
  against the normal one and its live audit on stand-ins (recorded facts, scaled) against the
  normal one on recorded facts, ratio < 3x each; beside them, pytest alone with as many trivial
  tests (the floor of one pytest item per check);
- live audit of the running baseline, only when asked (`--live` or `PLANCHECK_BENCH_LIVE=1`, the
  baseline up): wall time < 10 s, and wall time over the slowest source's wall time (results.json
  "sources") <= 1.3: sources are gathered concurrently, so a run should cost its slowest probe, not
  the sum. Each source's round trips and bytes are printed beside its time. When the Docker engine
  does not answer, the live part says so and is skipped (it does not count as missed). The same live
  audit is then run with the sources read one after the other as checks first need them
  (`PLANCHECK_PREFETCH=0`, the engine before concurrent gathering): its wall time is printed beside,
  and its verdicts are compared with the concurrent run's check by check (a difference is a miss).

Run: `.venv/bin/python bench/audit_speed.py [--live] [--no-scale]` (`make bench` runs it with --live,
then tls_ports_bench.py and fleet_bench.py).
Exit status 1 when a target is missed. `PLANCHECK_BENCH_REPEAT=N` runs each audit N times and keeps the
fastest (default 3). The audits use Python's bytecode cache (under ~/.cache/plancheck/pycache, never in
the tree) even where PYTHONDONTWRITEBYTECODE is set, so the figures are those of a second run; the
compose project is read through plancheck's `docker-compose config` cache (plancheck/facts/compose_cache.py)
the same way (the first of the N runs fills it).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STATIC_S, RSS_MB, OVERHEAD_US = 3.0, 250, 1000.0
LIVE_S, LIVE_RATIO = 10.0, 1.3


def child_env() -> dict[str, str]:
    """The audits run as a user runs them twice: with Python's bytecode cache (kept out of the tree, under
    the user's cache directory), also where PYTHONDONTWRITEBYTECODE is set (compiling every module and
    rewriting every check's asserts again would be most of what is measured)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "plancheck" / "pycache"
    env.setdefault("PYTHONPYCACHEPREFIX", str(cache))
    return env


def audit(args: list[str], env: dict[str, str] | None = None) -> tuple[float, int, dict[str, Any]]:
    """One audit in a child process: its wall time, its peak RSS (MB) and its results.json."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", f"--reports-dir={tmp}/reports", *args]
        with open(Path(tmp) / "out.txt", "wb") as out:
            t0 = time.monotonic()
            child = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                     env={**child_env(), **(env or {})})
            _, status, usage = os.wait4(child.pid, 0)  # this child's own peak RSS (KB on Linux)
            wall = time.monotonic() - t0
            child.returncode = os.waitstatus_to_exitcode(status)
        results = Path(tmp) / "reports" / "latest" / "results.json"
        if not results.exists():
            tail = (Path(tmp) / "out.txt").read_text(errors="replace")[-800:]
            raise SystemExit(f"audit wrote no results.json (exit {child.returncode}): {' '.join(cmd)}\n{tail}")
        return wall, usage.ru_maxrss // 1024, json.loads(results.read_text())


def best(args: list[str], repeat: int) -> tuple[float, int, dict[str, Any]]:
    runs = [audit(args) for _ in range(repeat)]
    return min(runs, key=lambda r: r[0])[0], max(r[1] for r in runs), min(runs, key=lambda r: r[0])[2]


def mark(good: bool) -> str:
    return "ok" if good else "MISSED"


def gathering_span(doc: dict[str, Any]) -> float:
    src = doc.get("sources") or {}
    if not src:
        return 0.0
    return max(r["end_s"] for r in src.values()) - min(r["start_s"] for r in src.values())


def engine_answers(docker_host: str, timeout: float = 2.0) -> str:
    """'' when the Docker engine at `docker_host` (unix://...) answers GET /_ping, else why not."""
    if not docker_host.startswith("unix://"):
        return ""  # tcp:// or ssh://: the audit itself will say
    path = docker_host[len("unix://"):]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            head = s.recv(64)
    except OSError as e:
        return f"the Docker engine at {docker_host} does not answer ({e.strerror or e})"
    return "" if b" 200 " in head else f"the Docker engine at {docker_host} answered {head[:30]!r}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--live", action="store_true", help="also time the live audit of the running baseline")
    ap.add_argument("--no-scale", action="store_true", help="leave out the 10x desired-state audit")
    a = ap.parse_args(argv)
    repeat = max(1, int(os.environ.get("PLANCHECK_BENCH_REPEAT", "3")))
    ok = True

    wall, mb, doc = best(["--profile=prod", "--static", "--waivers=profiles/prod.waivers.yaml"], repeat)
    n = doc["summary"]["total"]
    good = wall < STATIC_S and mb < RSS_MB
    ok &= good
    print(f"static  : {n} checks in {wall:.2f} s ({n / wall:.0f} checks/s; engine {doc['run']['duration_s']:.2f} s, "
          f"gathering {gathering_span(doc):.2f} s), peak {mb} MB "
          f"[target < {STATIC_S:.0f} s, < {RSS_MB} MB: {mark(good)}]")

    from tests.audit import load_good_facts

    with tempfile.TemporaryDirectory() as tmp:
        facts = Path(tmp) / "facts.json"
        facts.write_text(json.dumps(load_good_facts()))
        wall, mb, doc = best(["--profile=baseline", f"--facts={facts}"], repeat)
    n = doc["summary"]["total"]
    load = gathering_span(doc)
    per_check = (doc["run"]["duration_s"] - load) / n * 1e6 if n else 0.0
    good = per_check < OVERHEAD_US and mb < RSS_MB
    ok &= good
    print(f"overhead: {per_check:.0f} us per check ({n} checks on recorded facts: engine {doc['run']['duration_s']:.2f} s "
          f"- facts load {load:.2f} s; whole command {wall:.2f} s, {n / wall:.0f} checks/s), peak {mb} MB "
          f"[target < {OVERHEAD_US / 1000:.0f} ms, < {RSS_MB} MB: {mark(good)}]")

    if not a.no_scale:
        from bench.scale_bench import run as scale_run

        line, good = scale_run(10, repeat)
        ok &= good
        print(f"scale   : {line}")

    if not (a.live or os.environ.get("PLANCHECK_BENCH_LIVE") == "1"):
        print("live    : not run (--live or PLANCHECK_BENCH_LIVE=1, with the baseline up)")
        return 0 if ok else 1
    from plancheck.profile import load_profile

    why = engine_answers(load_profile("baseline", ROOT / "profiles").target.docker_host)
    if why:
        print(f"live    : skipped: {why} (is the baseline up? `make audit` deploys it)")
        return 0 if ok else 1
    wall, mb, doc = best(["--profile=baseline"], 1)
    n, s = doc["summary"]["total"], doc["summary"]
    src = doc.get("sources") or {}
    if not src or s["error"] > s["total"] // 2:
        print(f"live    : no usable run ({s['error']} of {s['total']} checks errored: is the baseline up?)")
        return 1
    name, slowest = max(((k, v["wall_s"]) for k, v in src.items()), key=lambda kv: kv[1])
    ratio = wall / slowest if slowest else float("inf")
    good = wall < LIVE_S and ratio <= LIVE_RATIO and mb < RSS_MB
    ok &= good
    print(f"live    : {n} checks in {wall:.2f} s ({n / wall:.0f} checks/s; engine {doc['run']['duration_s']:.2f} s), "
          f"slowest source {name} {slowest:.2f} s, ratio {ratio:.2f}, peak {mb} MB "
          f"[target < {LIVE_S:.0f} s, ratio <= {LIVE_RATIO}, < {RSS_MB} MB: {mark(good)}]")
    for k, v in sorted(src.items(), key=lambda kv: -kv[1]["wall_s"]):
        waited = f"  (waited {v['waited_s']:.1f} s)" if v.get("waited_s") else ""
        print(f"          {k:14s} {v['wall_s']:7.3f} s  {v['start_s']:7.3f} -> {v['end_s']:7.3f}  {v['outcome']:8s} "
              f"{v.get('round_trips', 0):6d} round trips {v.get('bytes', 0):10d} bytes{waited}")
    # the same audit with the sources read one after the other as checks first need them (the engine
    # before concurrent gathering, PLANCHECK_PREFETCH=0): its time, and its verdicts beside these
    seq_wall, _, seq = audit(["--profile=baseline"], env={"PLANCHECK_PREFETCH": "0"})
    same = verdicts(seq) == verdicts(doc)
    ok &= same
    # a run right after another waits for a TOTP step the provider has not seen used (replay
    # protection): deliberate waiting, not work, so it is shown apart
    seq_waited = sum(float(v.get("waited_s") or 0) for v in (seq.get("sources") or {}).values())
    print(f"sequential: {seq['summary']['total']} checks in {seq_wall:.2f} s with sources read one after the other, "
          f"of which {seq_waited:.1f} s deliberate waits ({(seq_wall - seq_waited) / wall:.1f}x the concurrent "
          f"run without them); verdicts check by check: "
          f"{'identical' if same else 'DIFFERENT: ' + ', '.join(differences(seq, doc)[:5])}")
    return 0 if ok else 1


def verdicts(doc: dict[str, Any]) -> dict[str, str]:
    return {c["nodeid"]: c["outcome"] for c in doc.get("checks") or []}


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    va, vb = verdicts(a), verdicts(b)
    return [f"{n}: {va.get(n)} vs {vb.get(n)}" for n in sorted(set(va) | set(vb)) if va.get(n) != vb.get(n)]


if __name__ == "__main__":
    raise SystemExit(main())
