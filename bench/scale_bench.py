#!/usr/bin/env python3
"""Scale benchmark (issue 13): the static audit of a desired state with ten times the containers and
endpoints, against the normal one.

`make_scaled(root, factor, out)` writes into `out`:
- `compose.yaml`: the merged compose project of `prod` (`docker-compose config`, interpolated) with
  every service copied `factor - 1` more times (`NAME-x1` ...), published host ports moved out of the
  way of each other (+1000 per copy, wrapping below 65536), container names made unique;
- `prod-xN.yaml`: `profiles/prod.yaml` with the same copies of every planned container, every
  endpoint (`service:NAME` endpoints pointing at the copy) and every TLS endpoint, reading that
  compose file; the config files stay those of the repository.
The audits run as bench/audit_speed.py runs them (a child process, bytecode cache, fastest of N).

Run: `.venv/bin/python bench/scale_bench.py [--factor 10] [--repeat 3]`; prints
"10x static: N s (x ratio, target < 3x)". Exit status 1 when the target is missed.
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RATIO_TARGET = 3.0


def _suffix(name: str, k: int) -> str:
    return f"{name}-x{k}"


def _move_port(p: Any, k: int) -> Any:
    """A published port of the k-th copy, moved by 1000 * k (kept in 1..65535)."""
    def moved(n: int) -> int:
        return (int(n) + 1000 * k - 1) % 65535 + 1

    if isinstance(p, dict):
        q = dict(p)
        if q.get("published"):
            q["published"] = moved(int(str(q["published"]).split("-")[0]))
        return q
    text, _, proto = str(p).partition("/")
    parts = text.rsplit(":", 2)
    if len(parts) < 2:
        return p
    parts[-2] = str(moved(int(parts[-2].split("-")[0])))
    return ":".join(parts) + (f"/{proto}" if proto else "")


def scaled_compose(config: dict[str, Any], factor: int) -> dict[str, Any]:
    out = copy.deepcopy(config)
    services = out.get("services") or {}
    for name, svc in list(services.items()):
        for k in range(1, factor):
            s = copy.deepcopy(svc)
            if s.get("container_name"):
                s["container_name"] = _suffix(str(s["container_name"]), k)
            if s.get("hostname"):
                s["hostname"] = _suffix(str(s["hostname"]), k)
            if s.get("ports"):
                s["ports"] = [_move_port(p, k) for p in s["ports"]]
            services[_suffix(name, k)] = s
    return out


def scaled_profile(raw: dict[str, Any], factor: int, compose_dir: Path, name: str) -> dict[str, Any]:
    out = copy.deepcopy(raw)
    out["name"] = name
    containers = out.get("containers") or {}
    for cname, spec in list(containers.items()):
        for k in range(1, factor):
            containers[_suffix(cname, k)] = copy.deepcopy(spec)
    # the copies are scraped and logged as their originals are (PLAN-014/015 hold for them as for the plan)
    mon, logs = out.get("monitoring") or {}, out.get("logs") or {}
    targets = mon.setdefault("scrape_targets", {})
    for cname in [c for c in containers if "-x" not in c]:
        copies = [_suffix(cname, k) for k in range(1, factor)]
        if cname in (mon.get("scrape_jobs") or []):
            targets.setdefault(cname, []).extend(copies)
        for hosts in list(targets.values()):
            if cname in hosts:
                hosts.extend(copies)
        for key, section in (("not_scraped", mon), ("container_sources", logs), ("not_collected", logs)):
            if cname in (section.get(key) or {}):
                section[key].update({c: section[key][cname] for c in copies})
    target = out["target"]
    endpoints = target.get("endpoints") or {}
    for ename, ep in list(endpoints.items()):
        for k in range(1, factor):
            e = copy.deepcopy(ep)
            host = str(e.get("host", ""))
            if host.startswith("service:"):
                e["host"] = "service:" + _suffix(host.split(":", 1)[1], k)
            endpoints[_suffix(ename, k)] = e
    tls = ((out.get("security") or {}).get("tls") or {}).get("endpoints") or {}
    for tname, spec in list(tls.items()):
        if not isinstance(spec, dict) or spec.get("endpoint") not in endpoints:
            continue
        for k in range(1, factor):
            tls[_suffix(tname, k)] = {**copy.deepcopy(spec), "endpoint": _suffix(str(spec["endpoint"]), k)}
    compose = target["compose"]
    compose["project_dir"] = str(compose_dir)
    compose["files"] = ["compose.yaml"]
    compose["env_files"] = []
    return out


def make_scaled(root: Path, factor: int, out: Path) -> Path:
    """Write the scaled compose project and profile into `out`; returns the profile's path."""
    import plancheck.facts  # noqa: F401  (registers the sources)
    from plancheck.facts.base import Context
    from plancheck.facts.containers import compose_config
    from plancheck.profile import load_profile

    profile = load_profile("prod", root / "profiles")
    config = compose_config(Context(profile=profile, root=root, mode="static"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "compose.yaml").write_text(yaml.safe_dump(scaled_compose(config, factor), sort_keys=False))
    raw = yaml.safe_load((root / "profiles" / "prod.yaml").read_text())
    if "extends" in raw:
        raise SystemExit("profiles/prod.yaml extends another profile: the scale bench expects the plan itself")
    path = out / f"prod-x{factor}.yaml"
    path.write_text(yaml.safe_dump(scaled_profile(raw, factor, out, f"prod-x{factor}"), sort_keys=False,
                                   allow_unicode=True))
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--factor", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=int(os.environ.get("PLANCHECK_BENCH_REPEAT", "3")))
    a = ap.parse_args(argv)
    line, good = run(a.factor, max(1, a.repeat))
    print(line)
    return 0 if good else 1


def run(factor: int, repeat: int) -> tuple[str, bool]:
    """Time the static audit of prod and of its scaled copy; one line beside the target."""
    from bench.audit_speed import best

    with tempfile.TemporaryDirectory(prefix="plancheck-scale-") as tmp:
        profile = make_scaled(ROOT, factor, Path(tmp) / "desired")
        # --max-skipped=100%: a generated plan observes what it observes; the figure is the time
        base_wall, base_mb, base_doc = best(["--profile=prod", "--static", "--max-skipped=100%"], repeat)
        wall, mb, doc = best([f"--profile={profile}", "--static", "--max-skipped=100%"], repeat)
    ratio = wall / base_wall if base_wall else float("inf")
    n0, n = base_doc["summary"]["total"], doc["summary"]["total"]
    good = ratio < RATIO_TARGET
    return (f"{factor}x static: {wall:.2f} s ({ratio:.2f}x ratio, target < {RATIO_TARGET:g}x: "
            f"{'ok' if good else 'MISSED'}); {n} checks vs {n0} in {base_wall:.2f} s, "
            f"{n / wall:.0f} checks/s, peak {mb} MB (normal {base_mb} MB)"), good


if __name__ == "__main__":
    raise SystemExit(main())
