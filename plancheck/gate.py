"""Pre-change gate: fail only on the findings a change introduces into the desired state.

    python -m plancheck.gate [--ref main] [--profile prod] [--waivers profiles/prod.waivers.yaml]
                             [--fail-on low] [--reports-dir DIR]

Runs the static audit (`pytest --profile=P --static`) twice: on the working tree as it is (committed
or not) and on REF exported with `git archive` into a temporary directory, each side with its own
checks, profiles, waivers and baseline; then compares the two results.json with plancheck.diff.
Exit 1 when the working tree has a failure at or above --fail-on that REF does not have, a new error
(a check that can no longer judge), a too-low coverage REF did not have, or an audit the change
broke (a profile or waiver that no longer loads); each printed with its control, check id and
message, which carries the fix. Exit 0 otherwise, also when findings REF already had remain
(they are the nightly audit's business). Exit 2 with one line when it cannot compare (not a git
repository, unknown REF, REF's own audit does not run).

Deploy-time files that git ignores but the static audit reads (the compose env files the profile
names, e.g. baseline/.images.env with the locally built image tags) are copied from the working
tree into the export when REF lacks them, so both sides see the same deployment inputs.
"""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any, Optional

from plancheck.controls import SEVERITY_ORDER
from plancheck.diff import CATEGORIES, TITLES, OneLineParser, around, blocking, diff, finding_line

AUDIT_TIMEOUT_S = 900


class GateError(Exception):
    """The gate cannot compare: one line, exit 2."""


def _git(root: Path, *args: str, binary: bool = False) -> Any:
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, timeout=300)
    except FileNotFoundError:
        raise GateError("git is not installed") from None
    if out.returncode != 0:
        err = out.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GateError(f"git {' '.join(args)}: {err[-1] if err else 'exit ' + str(out.returncode)}")
    return out.stdout if binary else out.stdout.decode("utf-8", "replace").strip()


def repo_root(cwd: Path) -> Path:
    try:
        return Path(_git(cwd, "rev-parse", "--show-toplevel"))
    except GateError:
        raise GateError(f"{cwd} is not inside a git repository: the gate compares with a git ref") from None


def export_ref(root: Path, ref: str, dest: Path) -> str:
    """REF's tree (tracked files only) into `dest`; returns the commit it resolved to."""
    try:
        sha = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except GateError:
        raise GateError(f"unknown git ref {ref!r} in {root} (fetch it first, e.g. git fetch origin {ref})") from None
    data = _git(root, "archive", "--format=tar", sha, binary=True)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        try:
            tar.extractall(dest, filter="data")
        except TypeError:  # Python before 3.11.4: no extraction filters (git archive's own output)
            tar.extractall(dest)
    return sha


def deploy_time_inputs(tree: Path, profile: str) -> list[str]:
    """The git-ignored files of the working tree the static audit reads: the compose env files of
    the profile (relative paths). Missing ones and a profile that does not load give none."""
    try:
        from plancheck.profile import load_profile

        p = load_profile(profile, tree / "profiles")
    except Exception:  # the audit itself reports a profile that does not load
        return []
    compose = p.target.compose
    out = []
    for name in compose.env_files:
        rel = Path(compose.project_dir) / name
        if not rel.is_absolute() and (tree / rel).is_file():
            out.append(str(rel))
    return out


def carry_inputs(tree: Path, export: Path, profile: str) -> list[str]:
    carried = []
    for rel in deploy_time_inputs(tree, profile):
        if not (export / rel).exists():
            (export / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(tree / rel, export / rel)
            carried.append(rel)
    return carried


def run_static(tree: Path, reports: Path, profile: str, waivers: Optional[str], label: str) -> dict[str, Any]:
    """The static audit of `tree` (its own checks, profiles and baseline), reports in `reports`;
    returns its results.json. The audit's own exit status is in run.exit_status."""
    cmd = [sys.executable, "-m", "pytest", f"--profile={profile}", "--static", f"--reports-dir={reports}",
           "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
    if waivers:
        cmd.append(f"--waivers={waivers}")
    try:
        out = subprocess.run(cmd, cwd=tree, capture_output=True, text=True, timeout=AUDIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise GateError(f"{label}: the static audit did not finish in {AUDIT_TIMEOUT_S}s") from None
    results = reports / "latest" / "results.json"
    if not results.exists():
        tail = [ln for ln in (out.stderr + out.stdout).splitlines() if ln.strip()]
        raise GateError(f"{label}: the static audit wrote no results.json (exit {out.returncode}): "
                        f"{tail[-1] if tail else 'no output'}")
    return json.loads(results.read_text(encoding="utf-8"))


def relativize(doc: dict[str, Any], root: Path) -> dict[str, Any]:
    """The document with `root/` cut from found, expected and message: the two trees live at
    different paths, and a path is not a change."""
    prefixes = sorted({str(root) + "/", str(root.resolve()) + "/"}, key=len, reverse=True)
    for c in doc.get("checks", []):
        for k in ("found", "expected", "message"):
            v = c.get(k)
            if isinstance(v, str):
                for p in prefixes:
                    v = v.replace(p, "")
                c[k] = v
    return doc


def _summary(doc: dict[str, Any]) -> str:
    s = doc.get("summary", {})
    return (f"{s.get('total', 0)} checks: " + ", ".join(f"{s.get(k, 0)} {k}" for k in
                                                       ("passed", "failed", "waived", "skipped", "error")))


def _broken(doc: dict[str, Any]) -> bool:
    """An audit that did not run its checks (bad profile or waivers: exit 4, no checks)."""
    return int(doc["run"].get("exit_status") or 0) >= 2 and not doc.get("checks")


def compare(new_doc: dict[str, Any], old_doc: dict[str, Any], fail_on: str = "low",
            ref_label: str = "the reference") -> tuple[int, list[str], dict[str, Any]]:
    """(exit code, lines to print, the diff) for the working tree's results against the reference's."""
    if _broken(old_doc):
        raise GateError(f"{ref_label}: its static audit does not run: "
                        + "; ".join(old_doc["run"].get("errors") or ["exit " + str(old_doc["run"].get("exit_status"))]))
    lines = [f"{ref_label}: {_summary(old_doc)}", f"working tree: {_summary(new_doc)}"]
    if _broken(new_doc):
        lines.append("the change breaks the audit itself:")
        lines += [f"  {e}" for e in new_doc["run"].get("errors") or [f"exit {new_doc['run'].get('exit_status')}"]]
        return 1, lines, {}
    d = diff(old_doc, new_doc)
    found = blocking(d, fail_on)
    cov_new, cov_old = new_doc.get("coverage") or {}, old_doc.get("coverage") or {}
    coverage_lost = bool(cov_new.get("too_little")) and not cov_old.get("too_little")
    if found or coverage_lost:
        lines.append(f"{len(found) + coverage_lost} new finding(s) at or above {fail_on} introduced by the change:")
        lines += [f"  {finding_line(e)}" for e in found]
        if coverage_lost:
            lines.append(f"  coverage too low: {cov_new.get('line', '')} (--max-skipped allows "
                         f"{cov_new.get('max_skipped')})")
    else:
        lines.append(f"no new finding at or above {fail_on}")
    below = [e for e in d["newly_failing"] if e not in found]
    others = [(TITLES["newly_failing"] + f" below {fail_on} (not gating)", below)] + [
        (TITLES[k], d[k]) for k in CATEGORIES if k not in ("newly_failing", "newly_erroring")]
    for title, items in others:
        if items:
            lines.append(f"{title}: {len(items)}")
            for e in items[:20]:
                if e["before"] == e["now"]:
                    a, b = around(e["found_before"], e["found_now"])
                    detail = f"found {a!r} -> {b!r}"
                else:
                    detail = f"{e['before'] or '(absent)'} -> {e['now'] or '(absent)'}"
                lines.append(f"  {e['control'] or '-'} {e['nodeid']}: {detail}")
            if len(items) > 20:
                lines.append(f"  ... and {len(items) - 20} more")
    both = [c for c in new_doc["checks"] if c["outcome"] == "error"]
    if both and not d["newly_erroring"]:
        lines.append(f"note: {len(both)} checks could not judge on both sides (not introduced by the change), "
                     f"e.g. {both[0]['control']}: {both[0]['message'][:200]}")
    return (1 if found or coverage_lost else 0), lines, d


def gate(tree: Path, ref: str, profile: str, waivers: Optional[str], fail_on: str,
         reports: Path) -> tuple[int, list[str]]:
    root = repo_root(tree)
    export = reports / "ref-tree"
    if export.exists():
        shutil.rmtree(export)
    sha = export_ref(root, ref, export)
    sub = tree.resolve().relative_to(root.resolve())  # the project may live below the repository's root
    ref_tree = export / sub
    if not (ref_tree / "profiles").is_dir():
        raise GateError(f"{ref} ({sha[:12]}) has no {sub / 'profiles'}: nothing to compare with")
    carried = carry_inputs(tree, ref_tree, profile)
    ref_waivers = waivers if not waivers or (ref_tree / waivers).exists() else None
    if waivers and not (tree / waivers).exists():
        raise GateError(f"{waivers}: no such waiver file in the working tree")
    label = f"{ref} ({sha[:12]})"
    old = relativize(run_static(ref_tree, reports / "ref", profile, ref_waivers, label), ref_tree)
    new = relativize(run_static(tree, reports / "tree", profile, waivers, "working tree"), tree)
    code, lines, d = compare(new, old, fail_on, label)
    head = [f"plancheck gate: working tree {tree} against {label}, profile {profile} (static), fail on {fail_on}"]
    head += [f"note: {rel} is not in git: the working tree's copy is used for {ref} too" for rel in carried]
    if waivers and not ref_waivers:
        head.append(f"note: {ref} has no {waivers}: its audit ran without waivers")
    if d:
        (reports / "diff.json").write_text(json.dumps(d | {"fail_on": fail_on, "exit_status": code}, indent=1,
                                                      ensure_ascii=False), encoding="utf-8")
    return code, head + lines


def main(argv: Optional[list[str]] = None) -> int:
    ap = OneLineParser(prog="python -m plancheck.gate",
                       description="Fail only on the findings the working tree introduces against a git ref.")
    ap.add_argument("--ref", default="main", help="git ref to compare with (default: main)")
    ap.add_argument("--profile", default="prod", help="profile (default: prod)")
    ap.add_argument("--waivers", default="profiles/prod.waivers.yaml",
                    help="waiver file, relative to each tree (default: profiles/prod.waivers.yaml; '' for none)")
    ap.add_argument("--fail-on", default="low", choices=list(SEVERITY_ORDER),
                    help="fail on new findings at or above this severity (default: low)")
    ap.add_argument("--reports-dir", default=None,
                    help="keep both runs' reports and diff.json here (default: a temporary directory, removed)")
    ap.add_argument("--tree", default=".", help="the working tree to gate (default: the current directory)")
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    tmp = None
    if args.reports_dir:
        reports = Path(args.reports_dir).resolve()
        reports.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.mkdtemp(prefix="plancheck-gate-")
        reports = Path(tmp)
    try:
        code, lines = gate(Path(args.tree).resolve(), args.ref, args.profile, args.waivers or None, args.fail_on,
                           reports)
    except GateError as e:
        sys.stderr.write(f"plancheck.gate: {e}\n")
        return 2
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    sys.stdout.write("\n".join(lines) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
