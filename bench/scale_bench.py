#!/usr/bin/env python3
"""Scale benchmark (issue 13): the audit of a plan with ten times the containers and endpoints, against
the normal one: statically (a generated desired state) and live on stand-ins (recorded facts).

`make_scaled(root, factor, out)` writes into `out`:
- `compose.yaml`: the merged compose project of `prod` (`docker-compose config`, interpolated) with
  every service copied `factor - 1` more times (`NAME-x1` ...), published host ports moved out of the
  way of each other (+1000 per copy, wrapping below 65536), container names made unique;
- `prod-xN.yaml`: `profiles/prod.yaml` with the same copies of every planned container, every
  endpoint (`service:NAME` endpoints pointing at the copy) and every TLS endpoint, reading that
  compose file; the config files stay those of the repository.
`make_scaled_live(root, factor, out)` writes the stand-ins: `baseline-xN.yaml` (the baseline profile,
scaled the same way) and `baseline-xN.facts.json`, the recorded live facts of tests/data/good with
every container and endpoint also present as its copies (each copy probes every copy of its
segmentation targets); the live audit reads them with --facts instead of a platform.
The audits run as bench/audit_speed.py runs them (a child process, bytecode cache, fastest of N).
Beside them: pytest alone running as many trivial tests as the scaled static audit has checks,
with pytest's built-in plugins only, the floor of any run with one pytest item per check.

Run: `.venv/bin/python bench/scale_bench.py [--factor 10] [--repeat 3]`; prints
"10x static: N s (x ratio, target < 3x)", the same for "live on stand-ins", and the floor. Exit
status 1 when a target is missed.
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


def _renamed(value: Any, names: set[str], k: int) -> Any:
    """`value` with every planned name (a container or endpoint: `api-server`, `api-server:8443`) in
    keys, lists and strings replaced by its k-th copy's name; other values unchanged."""
    if isinstance(value, dict):
        return {_renamed(key, names, k): _renamed(v, names, k) for key, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, names, k) for v in value]
    if isinstance(value, str):
        head, sep, tail = value.partition(":")
        if head in names:
            return _suffix(head, k) + sep + tail
    return value


def _merged(a: Any, b: Any) -> Any:
    """`a` with what `b` adds: new keys of dicts (recursively) and new items of lists of names."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for key, v in b.items():
            out[key] = _merged(a[key], v) if key in a else v
        return out
    if isinstance(a, list) and isinstance(b, list) and all(isinstance(x, str) for x in a + b):
        return a + [x for x in b if x not in a]
    return a


def scaled_facts(facts: dict[str, Any], names: set[str], factor: int, profile_name: str) -> dict[str, Any]:
    """A recorded fact set (--dump-facts) in which every planned container and endpoint also appears
    as its copies: the stand-ins a live audit of the scaled plan reads instead of a platform. A
    source's own field names (`alertmanager` of the monitoring facts) stay as they are."""
    out: dict[str, Any] = {}
    for source, value in facts.items():
        if source == "_meta":
            out[source] = {**value, "profile": profile_name}
            continue
        for k in range(1, factor):
            value = _merged(value, {f: _renamed(v, names, k) for f, v in facts[source].items()})
        out[source] = value
    seg = (facts.get("segmentation") or {}).get("reachable")
    if isinstance(seg, dict):  # every copy probes every copy of its targets, as the original does
        out["segmentation"]["reachable"] = {
            _renamed(src, names, j) if j else src: {(_renamed(t, names, k) if k else t): v
                                                    for t, v in row.items() for k in range(factor)}
            for src, row in seg.items() for j in range(factor)}
    return out


def make_scaled_live(root: Path, factor: int, out: Path) -> tuple[Path, Path]:
    """The scaled baseline profile and its scaled recorded facts (tests/data/good): a live audit on
    stand-ins. Returns (profile, facts)."""
    import json

    from plancheck.profile.loader import load_raw
    from tests.audit import load_good_facts

    raw, _ = load_raw(root / "profiles" / "baseline.yaml")
    out.mkdir(parents=True, exist_ok=True)
    (out / "compose.yaml").write_text("services: {}\n")  # the facts stand in for the engine
    name = f"baseline-x{factor}"
    profile = out / f"{name}.yaml"
    scaled = scaled_profile(raw, factor, out, name)
    profile.write_text(yaml.safe_dump(scaled, sort_keys=False, allow_unicode=True))
    names = set(raw.get("containers") or {}) | set((raw.get("target") or {}).get("endpoints") or {})
    facts = out / f"{name}.facts.json"
    facts.write_text(json.dumps(scaled_facts(load_good_facts(), names, factor, name)))
    return profile, facts


FLOOR_TEST = """import pytest


@pytest.mark.parametrize("n", range({count}))
def test_item(n):
    assert n >= 0
"""


def pytest_floor(count: int, repeat: int) -> float:
    """Seconds pytest itself takes for `count` trivial parametrized tests, in a child process as the
    audits run, with pytest's built-in plugins only (no installed plugin, plancheck's included): the
    least a run with one pytest item per check costs before any fixture or check does work. Run in
    an empty directory (no conftest, no checks)."""
    import subprocess
    import time

    from bench.audit_speed import child_env

    times = []
    with tempfile.TemporaryDirectory(prefix="plancheck-floor-") as tmp:
        (Path(tmp) / "test_floor.py").write_text(FLOOR_TEST.format(count=count))
        (Path(tmp) / "pytest.ini").write_text("[pytest]\n")
        for _ in range(repeat):
            t0 = time.monotonic()
            subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                            "test_floor.py"], cwd=tmp, env={**child_env(), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
                           capture_output=True, check=True)
            times.append(time.monotonic() - t0)
    return min(times)


def run(factor: int, repeat: int) -> tuple[str, bool]:
    """Time the static audit of prod and of its scaled copy, then the live audit of the baseline on
    its recorded facts and of its scaled copy on scaled stand-ins; lines beside the target."""
    import json

    from tests.audit import load_good_facts

    with tempfile.TemporaryDirectory(prefix="plancheck-scale-") as tmp:
        profile = make_scaled(ROOT, factor, Path(tmp) / "desired")
        # --max-skipped=100%: a generated plan observes what it observes; the figure is the time
        static = _pair(["--profile=prod", "--static"], [f"--profile={profile}", "--static"], repeat)
        good = Path(tmp) / "good.json"
        good.write_text(json.dumps(load_good_facts()))
        live_profile, live_facts = make_scaled_live(ROOT, factor, Path(tmp) / "stand-ins")
        live = _pair(["--profile=baseline", f"--facts={good}"],
                     [f"--profile={live_profile}", f"--facts={live_facts}"], repeat)
    (base_wall, base_mb, base_doc), (wall, mb, doc) = static
    n = doc["summary"]["total"]
    floor = pytest_floor(n, repeat)
    lines, ok = [], True
    for what, ((b_wall, b_mb, b_doc), (x_wall, x_mb, x_doc)) in (("static", static), ("live on stand-ins", live)):
        ratio = x_wall / b_wall if b_wall else float("inf")
        good_ = ratio < RATIO_TARGET
        ok &= good_
        n0, nx = b_doc["summary"]["total"], x_doc["summary"]["total"]
        lines.append(f"{factor}x {what}: {x_wall:.2f} s ({ratio:.2f}x, target < {RATIO_TARGET:g}x: "
                     f"{'ok' if good_ else 'MISSED'}); {nx} checks vs {n0} in {b_wall:.2f} s, "
                     f"{nx / x_wall:.0f} checks/s, peak {x_mb} MB (normal {b_mb} MB)")
    lines.append(f"pytest alone, {n} trivial tests: {floor:.2f} s ({floor / base_wall:.2f}x the normal static "
                 f"audit): the floor of one pytest item per check")
    return "\n          ".join(lines), ok


def _pair(normal: list[str], scaled: list[str], repeat: int) -> tuple[Any, Any]:
    from bench.audit_speed import best

    more = ["--max-skipped=100%"]
    return best([*normal, *more], repeat), best([*scaled, *more], repeat)


if __name__ == "__main__":
    raise SystemExit(main())
