"""`--opt value` behaves exactly like `--opt=value`: same rootdir, same testpaths (never the
break-and-detect tests of tests/live), same reports directory."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.audit import ROOT


def _collect(tmp_path: Path, *opts: str) -> tuple[str, list[str]]:
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly",
                          "--profile=prod", "--static", *opts], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    lines = [ln for ln in out.stdout.splitlines() if "::" in ln]
    return out.stdout, lines


@pytest.mark.parametrize("option", ["--dump-facts", "--profile", "--waivers"])
def test_space_and_equals_forms_collect_the_same(tmp_path: Path, option: str) -> None:
    value = {"--dump-facts": str(tmp_path / "facts.json"),
             "--profile": str(tmp_path / "elsewhere" / "prod.yaml"),
             "--waivers": str(tmp_path / "elsewhere" / "waivers.yaml")}[option]
    Path(value).parent.mkdir(parents=True, exist_ok=True)
    Path(value).write_text("{}")  # an existing path is what pytest mistakes for a test path
    if option == "--profile":
        Path(value).write_text((ROOT / "profiles/prod.yaml").read_text())
    if option == "--waivers":
        Path(value).write_text((ROOT / "profiles/prod.waivers.yaml").read_text())
    _, spaced = _collect(tmp_path, option, value)
    _, equals = _collect(tmp_path, f"{option}={value}")
    assert spaced and spaced == equals
    assert all(line.startswith("checks/") for line in spaced), [ln for ln in spaced if not ln.startswith("checks/")][:3]


def test_reports_go_under_the_project_with_a_spaced_option(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    (tmp_path / "f.json").write_text("{}")  # overwritten by the run
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "--profile=prod", "--static",
                          "-k", "test_allocation", "--dump-facts", str(tmp_path / "f.json"),
                          "--reports-dir", str(reports)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert (reports / "latest" / "results.json").exists(), out.stdout[-500:]
    assert (tmp_path / "f.json").exists()
