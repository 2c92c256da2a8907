"""End to end, the slow way: a failing control becomes a firing alert in the baseline's Alertmanager
and a notification at its on-call webhook (the alert-sink). Breaks DB-002 (max_connections=10),
audits with --prom-textfile into node-exporter's textfile directory, waits for
ComplianceCheckFailingHigh to pass its `for: 5m` and reach Alertmanager and the sink, then restores
and audits again. About seven minutes; changes the running baseline, so run it only on the reference
deployment (as root): .venv/bin/python bench/compliance_alert_demo.py --run (without --run, as in
`make bench`, it says so and does nothing)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from plancheck.facts.base import Context, FactStore  # noqa: E402
from plancheck.facts.httpapi import Api  # noqa: E402
from plancheck.profile.loader import load_profile  # noqa: E402

RULE = "ComplianceCheckFailingHigh"
TEXTFILE = ROOT / "baseline/.textfile/plancheck.prom"


def sql(statement: str) -> None:
    subprocess.run(["/usr/bin/docker", "exec", "-u", "mysql", "plancheck-baseline_mariadb_1", "mariadb", "-N", "-e",
                    statement], check=True, capture_output=True, timeout=60)


def audit() -> int:
    return subprocess.run([sys.executable, "-m", "pytest", "--profile=baseline", "-q", "-k", "test_mariadb",
                           f"--prom-textfile={TEXTFILE}", "-p", "no:randomly"], cwd=ROOT,
                          capture_output=True, timeout=300).returncode


def api(name: str) -> Api:
    ctx = Context(profile=load_profile("baseline", ROOT / "profiles"), root=ROOT, mode="live")
    FactStore(ctx)
    return Api(ctx, name)


def main() -> int:
    if "--run" not in sys.argv[1:]:
        print("compliance alert demo: skipped (it breaks DB-002 on the running baseline for ~7 min; pass --run)")
        return 0
    t0 = time.monotonic()
    say = lambda msg: print(f"[{time.monotonic() - t0:6.1f}s] {msg}", flush=True)  # noqa: E731
    sql("SET GLOBAL max_connections=10")
    fired = delivered = None
    try:
        say(f"DB-002 broken; audit exit {audit()} (textfile {TEXTFILE})")
        am, sink = api("alertmanager"), api("alert-sink")
        deadline = time.monotonic() + 480
        while time.monotonic() < deadline and not delivered:
            alerts = [a for a in am.get("/api/v2/alerts") if a["labels"].get("alertname") == RULE]
            if alerts and not fired:
                fired = alerts[0]
                say(f"Alertmanager: {RULE} {fired['status']['state']} for {fired['labels'].get('control')}: "
                    f"{fired['annotations'].get('summary')}")
            notes = [n for n in sink.get("/alerts")["notifications"]
                     if any(a["labels"].get("alertname") == RULE for a in n["alerts"])]
            if notes:
                delivered = notes[-1]
                say(f"alert-sink: notification from {delivered['client_cn']} to receiver {delivered['receiver']}: "
                    + json.dumps([a["labels"].get("control") for a in delivered["alerts"]]))
            time.sleep(5)
    finally:
        sql("SET GLOBAL max_connections=1000")
        say(f"restored; audit exit {audit()} (the series goes back to 0, the alert resolves)")
    if not (fired and delivered):
        say(f"FAILED: fired={bool(fired)} delivered={bool(delivered)} within 8 min")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
