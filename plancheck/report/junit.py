"""JUnit XML from results.json: one testcase per check, the control's metadata as properties.

Properties per testcase are what auditors' CI viewers show (Jenkins, GitLab); waived checks are
reported as skipped with the waiver in the message, so a JUnit consumer never counts them failed.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any


def _classname(nodeid: str) -> str:
    path = nodeid.split("::")[0]
    return path.removesuffix(".py").replace("/", ".")


def render_junit(doc: dict[str, Any]) -> str:
    run, records = doc["run"], doc["checks"]
    counts = doc["summary"]
    suite = ET.Element("testsuite", {
        "name": f"plancheck.{run['profile']}.{run['mode']}",
        "tests": str(counts["total"]),
        "failures": str(counts["failed"]),
        "errors": str(counts["error"]),
        "skipped": str(counts["skipped"] + counts["waived"]),
        "time": f"{run.get('duration_s', 0):.3f}",
        "timestamp": run["started"],
    })
    props = ET.SubElement(suite, "properties")
    for key in ("profile", "mode", "plan", "target", "fail_on"):
        ET.SubElement(props, "property", {"name": key, "value": str(run.get(key, ""))})
    for r in records:
        name = r["nodeid"].split("::", 1)[-1]
        case = ET.SubElement(suite, "testcase", {
            "classname": _classname(r["nodeid"]),
            "name": f"{r['control']} {name}" if r["control"] else name,
            "time": f"{r['duration']:.3f}",
        })
        cprops = ET.SubElement(case, "properties")
        for key in ("control", "severity", "section", "expected", "found", "outcome"):
            ET.SubElement(cprops, "property", {"name": key, "value": str(r.get(key, ""))})
        if r["outcome"] == "failed":
            el = ET.SubElement(case, "failure", {"message": r["message"], "type": r["severity"] or "failure"})
            el.text = f"expected: {r['expected']}\nfound: {r['found']}\nremediation: {r['remediation']}"
            w = r.get("waiver") or {}
            if w.get("expired"):  # a waiver matched but no longer waives: say so where CI viewers look
                ET.SubElement(cprops, "property", {"name": "waiver_expired", "value": str(w.get("expires", "?"))})
                ET.SubElement(case, "system-out").text = (
                    f"waiver expired on {w.get('expires', '?')} (approved by {w.get('approver', '?')}): "
                    f"no longer waives: {w.get('justification', '')}")
        elif r["outcome"] == "error":
            ET.SubElement(case, "error", {"message": r["message"]})
        elif r["outcome"] == "skipped":
            ET.SubElement(case, "skipped", {"message": r["message"]})
        elif r["outcome"] == "waived":
            w = r.get("waiver") or {}
            ET.SubElement(case, "skipped", {
                "message": f"waived until {w.get('expires', '?')} by {w.get('approver', '?')}: "
                           f"{w.get('justification', '')} (finding: {r['message']})"})
    suites = ET.Element("testsuites")
    suites.append(suite)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
