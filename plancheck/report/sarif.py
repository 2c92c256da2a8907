"""SARIF 2.1.0 from results.json (`--sarif PATH`), for code-scanning viewers and auditors' tools.

One rule per control in the run (id, title, help = remediation, severity, tags); one result per
failed check (kind "fail", level from severity: critical/high -> error, medium -> warning,
low -> note) and per waived one (the same, with an accepted external suppression carrying the
waiver). Checks that could not judge (outcome error) are tool execution notifications, not
findings. Each result is located at the desired-state file, and line where findable, that sets the
value (plancheck.report.locate), and logically at the check's node id.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Optional

from plancheck.report.locate import Locator

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
# GitHub code scanning reads properties.security-severity (a CVSS-like score) for its own severity
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}


def _tool_version() -> str:
    try:
        from importlib.metadata import version

        return version("plancheck")
    except Exception:
        return "0"


def _rule(rec: dict[str, Any]) -> dict[str, Any]:
    sev = rec.get("severity") or "high"
    tags = [t for t in rec.get("tags", []) if t]
    tags += [t for t in (f"plan-section:{rec.get('section_id', '')}" if rec.get("section_id") else "",
                         rec.get("topic", "")) if t]
    return {
        "id": rec["control"],
        "name": rec["control"].replace("-", ""),
        "shortDescription": {"text": rec.get("title") or rec["control"]},
        "fullDescription": {"text": f"{rec.get('title', '')} ({rec.get('section', '')})".strip()},
        "help": {"text": rec.get("remediation") or "See the control catalog (docs/controls.md)."},
        "defaultConfiguration": {"level": LEVEL.get(sev, "error")},
        "properties": {"severity": sev, "security-severity": SECURITY_SEVERITY.get(sev, "8.0"),
                       "section": rec.get("section", ""), "tags": list(dict.fromkeys(tags))},
    }


def render_sarif(doc: dict[str, Any], locator: Optional[Locator] = None, root: Optional[Path] = None) -> dict[str, Any]:
    run, checks = doc["run"], doc["checks"]
    rules: dict[str, dict[str, Any]] = {}
    for rec in checks:
        if rec.get("control") and rec["control"] not in rules:
            rules[rec["control"]] = _rule(rec)
    index = {cid: i for i, cid in enumerate(rules)}
    results, notifications = [], []
    for rec in checks:
        ctl = rec.get("control", "")
        if rec["outcome"] == "error":
            notifications.append({
                "level": "error", "message": {"text": rec.get("message") or "the check could not judge"},
                **({"associatedRule": {"id": ctl, "index": index[ctl]}} if ctl in index else {}),
                "properties": {"nodeid": rec["nodeid"]}})
            continue
        if rec["outcome"] not in ("failed", "waived") or not ctl:
            continue
        sev = rec.get("severity") or "high"
        loc: dict[str, Any] = {"logicalLocations": [{"fullyQualifiedName": rec["nodeid"], "kind": "object"}]}
        where = locator.locate(rec) if locator else None
        if where is not None:
            phys: dict[str, Any] = {"artifactLocation": {"uri": where.path, "uriBaseId": "SRCROOT"}}
            if where.line:
                phys["region"] = {"startLine": where.line, **({"snippet": {"text": where.text}} if where.text else {})}
            loc["physicalLocation"] = phys
        text = rec.get("message") or f"{ctl}: expected {rec.get('expected', '')}, found {rec.get('found', '')}"
        result: dict[str, Any] = {
            "ruleId": ctl, "ruleIndex": index[ctl], "kind": "fail", "level": LEVEL.get(sev, "error"),
            "message": {"text": text},
            "locations": [loc],
            "partialFingerprints": {"plancheckNodeid/v1": hashlib.sha256(rec["nodeid"].encode()).hexdigest()[:32]},
            "properties": {"nodeid": rec["nodeid"], "expected": rec.get("expected", ""),
                           "found": rec.get("found", ""), "section": rec.get("section", ""),
                           "topic": rec.get("topic", ""), "severity": sev},
        }
        if rec["outcome"] == "waived":
            w = rec.get("waiver") or {}
            result["suppressions"] = [{
                "kind": "external", "status": "accepted",
                "justification": f"{w.get('justification', '')} (approved by {w.get('approver', '?')}, "
                                 f"expires {w.get('expires', '?')})"}]
        results.append(result)
    invocation: dict[str, Any] = {
        "executionSuccessful": run.get("exit_status") in (0, 1),
        "exitCode": int(run.get("exit_status", 0) or 0),
        "toolExecutionNotifications": notifications + [
            {"level": "error", "message": {"text": str(e)}} for e in run.get("errors", [])],
    }
    if run.get("started"):
        invocation["startTimeUtc"] = run["started"]
    out_run: dict[str, Any] = {
        "tool": {"driver": {"name": "plancheck", "version": _tool_version(), "rules": list(rules.values())}},
        "automationDetails": {"id": f"plancheck/{run.get('profile', '')}/{run.get('mode', '')}/{run.get('started', '')}"},
        "invocations": [invocation],
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": {"profile": run.get("profile", ""), "mode": run.get("mode", ""), "plan": run.get("plan", ""),
                       "summary": doc.get("summary", {})},
    }
    if root is not None:
        out_run["originalUriBaseIds"] = {"SRCROOT": {"uri": root.resolve().as_uri().rstrip("/") + "/"}}
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [out_run]}


def write_sarif(path: Path, doc: dict[str, Any], files: Optional[dict[str, list[str]]] = None,
                root: Optional[Path] = None) -> Path:
    locator = Locator(root, files) if root is not None and files else None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(render_sarif(doc, locator, root), indent=1, ensure_ascii=False), encoding="utf-8")
    return path
