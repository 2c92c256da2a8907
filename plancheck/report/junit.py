"""JUnit XML from results.json: one testcase per check, the control's metadata as properties.

Properties per testcase are what auditors' CI viewers show (Jenkins, GitLab); waived checks are
reported as skipped with the waiver in the message, so a JUnit consumer never counts them failed.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Optional

# ElementTree's own escaping (private, stable since Python 3.0), so the text equals what it wrote
from xml.etree.ElementTree import _escape_attrib, _escape_cdata  # type: ignore[attr-defined]


def _classname(nodeid: str) -> str:
    path = nodeid.split("::")[0]
    return path.removesuffix(".py").replace("/", ".")


def render_junit(doc: dict[str, Any]) -> str:
    """The JUnit XML of a run, written as text: byte for byte what building an ElementTree, `ET.indent`
    and `ET.tostring(..., xml_declaration=True)` give (ElementTree's own escaping is used), at a
    fraction of the cost (the tree was ~30 us per check of the run's tail). `_render_junit_tree` is
    that tree, kept as the reference the text must equal."""
    run, records = doc["run"], doc["checks"]
    counts = doc["summary"]
    out: list[str] = [_declaration(), "<testsuites>\n  "]
    w = out.append
    w(_open("testsuite", (
        ("name", f"plancheck.{run['profile']}.{run['mode']}"),
        ("tests", str(counts["total"])),
        ("failures", str(counts["failed"])),
        ("errors", str(counts["error"])),
        ("skipped", str(counts["skipped"] + counts["waived"])),
        ("time", f"{run.get('duration_s', 0):.3f}"),
        ("timestamp", run["started"]))))
    w("\n    <properties>\n      ")
    keys = ("profile", "mode", "plan", "target", "fail_on")
    for i, key in enumerate(keys):
        w(_empty("property", (("name", key), ("value", str(run.get(key, ""))))))
        w("\n      " if i < len(keys) - 1 else "\n    ")
    w("</properties>")
    for r in records:
        w("\n    ")
        name = r["nodeid"].split("::", 1)[-1]
        w(_open("testcase", (
            ("classname", _classname(r["nodeid"])),
            ("name", f"{r['control']} {name}" if r["control"] else name),
            ("time", f"{r['duration']:.3f}"))))
        cprops = [(("name", key), ("value", str(r.get(key, ""))))
                  for key in ("control", "severity", "section", "expected", "found", "outcome")]
        tail: list[tuple[str, tuple[tuple[str, str], ...], Optional[str]]] = []  # case children after properties
        outcome = r["outcome"]
        if outcome == "failed":
            tail.append(("failure", (("message", r["message"]), ("type", r["severity"] or "failure")),
                         f"expected: {r['expected']}\nfound: {r['found']}\nremediation: {r['remediation']}"))
            wv = r.get("waiver") or {}
            if wv.get("expired"):  # a waiver matched but no longer waives: say so where CI viewers look
                cprops.append((("name", "waiver_expired"), ("value", str(wv.get("expires", "?")))))
                tail.append(("system-out", (),
                             f"waiver expired on {wv.get('expires', '?')} (approved by {wv.get('approver', '?')}): "
                             f"no longer waives: {wv.get('justification', '')}"))
        elif outcome == "error":
            tail.append(("error", (("message", r["message"]),), None))
        elif outcome == "skipped":
            tail.append(("skipped", (("message", r["message"]),), None))
        elif outcome == "waived":
            wv = r.get("waiver") or {}
            tail.append(("skipped", (("message", f"waived until {wv.get('expires', '?')} by {wv.get('approver', '?')}: "
                                                 f"{wv.get('justification', '')} (finding: {r['message']})"),), None))
        w("\n      <properties>")
        for attrs in cprops:
            w("\n        ")
            w(_empty("property", attrs))
        w("\n      </properties>")
        for tag, attrs, text in tail:
            w("\n      ")
            if text:
                w(_open(tag, attrs))
                w(_escape_cdata(text))
                w(f"</{tag}>")
            else:
                w(_empty(tag, attrs))
        w("\n    </testcase>")
    w("\n  </testsuite>\n</testsuites>\n")
    return "".join(out)


def _attrs(attrs: tuple[tuple[str, str], ...]) -> str:
    return "".join(f' {k}="{_escape_attrib(v)}"' for k, v in attrs)


def _open(tag: str, attrs: tuple[tuple[str, str], ...]) -> str:
    return f"<{tag}{_attrs(attrs)}>"


def _empty(tag: str, attrs: tuple[tuple[str, str], ...]) -> str:
    return f"<{tag}{_attrs(attrs)} />"


def _declaration() -> str:
    """ElementTree's XML declaration for a unicode string (its encoding is the locale's, read each time
    as ElementTree does)."""
    return ET.tostring(ET.Element("x"), encoding="unicode", xml_declaration=True).split("\n", 1)[0] + "\n"


def _render_junit_tree(doc: dict[str, Any]) -> str:
    """The reference rendering through ElementTree (render_junit must equal it)."""
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
