"""The pre-change gate (python -m plancheck.gate, `make gate`): on two copies of the project that
differ in one memory limit it reports exactly that one new finding; against a git ref in a
throwaway repository it passes an unchanged tree, fails the edited one and says why in one line
when it cannot compare."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from plancheck import gate
from tests.audit import ROOT

pytestmark = pytest.mark.skipif(shutil.which("docker-compose") is None or shutil.which("git") is None,
                                reason="the static audit needs docker-compose; the gate needs git")

# what the static audit of a tree reads: its code, checks, profiles and desired state (no deploy-time
# PKI, secrets or image recipes); .gitignore so that a git export lacks what git ignores
TREE = ["plancheck", "checks", "fixtures", "profiles", "baseline", "conftest.py", "pyproject.toml", ".gitignore"]
IGNORE = shutil.ignore_patterns(".cache", ".pki", ".secrets", "images", "__pycache__", "*.egg-info")
WAIVERS = "profiles/prod.waivers.yaml"
REDIS = "checks/test_containers.py::test_memory_limit[redis]"


def _copy(dst: Path) -> Path:
    dst.mkdir(parents=True)
    for name in TREE:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=IGNORE)
        elif src.exists():
            shutil.copy2(src, dst / name)
    return dst


def _raise_redis_limit(tree: Path) -> None:
    compose = tree / "baseline/compose.yaml"
    text, n = re.subn(r"(\n  redis:\n(?:    .*\n)*?    mem_limit: )16g", r"\g<1>32g", compose.read_text(), count=1)
    assert n == 1, "redis mem_limit 16g not found in the copy of baseline/compose.yaml"
    compose.write_text(text)


def test_one_raised_limit_is_the_one_new_finding(tmp_path: Path) -> None:
    ref, new = _copy(tmp_path / "ref"), _copy(tmp_path / "new")
    _raise_redis_limit(new)
    old_doc = gate.relativize(gate.run_static(ref, tmp_path / "r-ref", "prod", WAIVERS, "ref"), ref)
    new_doc = gate.relativize(gate.run_static(new, tmp_path / "r-new", "prod", WAIVERS, "new"), new)
    code, lines, d = gate.compare(new_doc, old_doc, "low", "ref")
    assert code == 1, lines
    assert [(e["control"], e["nodeid"]) for e in d["newly_failing"]] == [("CT-004", REDIS)]
    assert d["newly_erroring"] == [] and d["fixed"] == []
    findings = [ln for ln in lines if ln.startswith("  CT-004 [high] ")]
    assert len(findings) == 1 and REDIS in findings[0] and "Fix: " in findings[0], lines
    assert "1 new finding(s) at or above low introduced by the change:" in lines
    # nothing else moved: the plan's budgets (PLAN-001/003) sum the profile's sizes, not compose's
    assert all(d[k] == [] for k in ("newly_waived", "newly_skipped", "found_changed", "added", "removed")), d
    # a higher bar: CT-004 is high, so --fail-on=critical lets it through (still listed)
    code, lines, _ = gate.compare(new_doc, old_doc, "critical", "ref")
    assert code == 0 and any(REDIS in ln for ln in lines)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                   capture_output=True, timeout=60)


def _gate(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # cwd=repo: `python -m` imports the plancheck of the repository under test
    return subprocess.run([sys.executable, "-m", "plancheck.gate", *args], cwd=repo, capture_output=True,
                          text=True, timeout=600)


def test_gate_against_a_git_ref(tmp_path: Path) -> None:
    repo = _copy(tmp_path / "repo")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "baseline")

    out = _gate(repo, "--ref", "main")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no new finding at or above low" in out.stdout
    if (ROOT / "baseline/.images.env").exists():  # git-ignored: carried into the export, said so
        assert "note: baseline/.images.env is not in git" in out.stdout

    _raise_redis_limit(repo)  # an uncommitted change: the working tree as it is
    keep = tmp_path / "kept"
    out = _gate(repo, "--ref", "main", "--fail-on", "high", "--reports-dir", str(keep))
    assert out.returncode == 1, out.stdout + out.stderr
    findings = [ln for ln in out.stdout.splitlines() if ln.startswith("  CT-004 ")]
    assert len(findings) == 1 and REDIS in findings[0], out.stdout
    assert (keep / "diff.json").is_file() and (keep / "ref" / "latest" / "results.json").is_file()

    _git(repo, "commit", "-q", "-am", "raise the redis limit")  # committed: no longer new against HEAD
    assert _gate(repo, "--ref", "HEAD").returncode == 0

    out = _gate(repo, "--ref", "no-such-branch")
    assert out.returncode == 2 and out.stdout == "" and len(out.stderr.splitlines()) == 1, out.stderr
    assert "unknown git ref 'no-such-branch'" in out.stderr


def test_outside_a_git_repository_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gate.main(["--tree", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not inside a git repository" in err


def test_a_profile_the_change_breaks_fails_the_gate() -> None:
    old = {"run": {"exit_status": 0}, "summary": {}, "checks": [{"nodeid": "a", "outcome": "passed"}]}
    new = {"run": {"exit_status": 4, "errors": ["profiles/prod.yaml: redis.maxmemory: bad size '16QB'"]},
           "summary": {}, "checks": []}
    code, lines, _ = gate.compare(new, old, "low", "main")
    assert code == 1 and "  profiles/prod.yaml: redis.maxmemory: bad size '16QB'" in lines
    with pytest.raises(gate.GateError):
        gate.compare(old, new, "low", "main")  # the reference itself does not run: cannot compare
