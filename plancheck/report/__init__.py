"""Report writers: results.json is written first; JUnit and HTML are rendered from that same data."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from plancheck.report.html import render_html
from plancheck.report.junit import render_junit
from plancheck.report.trend import SUMMARY, earlier_runs, summary_of


class ReportError(Exception):
    """The reports could not be written, or `latest` could not be pointed at them: one line.
    `out` is this run's directory when its files were written nevertheless."""

    def __init__(self, line: str, out: Path | None = None):
        super().__init__(line)
        self.out = out


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_dir_name(name: str) -> str:
    """A run directory name that stays one path component inside the reports directory, whatever
    the profile's `name:` says (`../../tmp/x` -> `_.._tmp_x`): [A-Za-z0-9._-], no leading dot."""
    return _UNSAFE.sub("_", name).lstrip(".")[:200] or "run"


def _make_dir(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ReportError(f"cannot write reports: cannot create {out}: {e.strerror or e}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ReportError(f"cannot write reports: {out} is not writable")


def _point_latest(base: Path, run_dir_name: str, out: Path) -> None:
    """reports/latest -> this run, atomically; a `latest` that is a real directory (not a link)
    is left alone and reported, this run's reports stay written."""
    latest = base / "latest"
    if latest.is_dir() and not latest.is_symlink():
        raise ReportError(f"{latest} is a directory, not a symlink: left alone, not pointed at this run "
                          f"(its reports are in {out}); move it away", out)
    tmp = base / f".latest-{os.getpid()}"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(run_dir_name)
        os.replace(tmp, latest)  # atomic: a reader never sees latest missing
    except OSError as e:
        raise ReportError(f"cannot point {latest} at this run: {e.strerror or e} (its reports are in {out})",
                          out) from None


def write_reports(base: Path, run_dir_name: str, document: dict[str, Any], lang: str = "en") -> Path:
    """Write reports/<run>/{results.json,summary.json,junit.xml,report.html}; point reports/latest at it.

    The HTML also shows the trend over the earlier runs of the same profile and mode found beside
    this one in `base` (plancheck.report.trend), in `lang` ("en" or "ko")."""
    run_dir_name = safe_dir_name(run_dir_name)
    out = base / run_dir_name
    _make_dir(out)  # ReportError: one line
    (out / "results.json").write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
    (out / SUMMARY).write_text(json.dumps(summary_of(document), ensure_ascii=False), encoding="utf-8")
    (out / "junit.xml").write_text(render_junit(document), encoding="utf-8")
    run = document.get("run", {})
    history = earlier_runs(base, str(run.get("profile", "")), str(run.get("mode", "")), run_dir_name)
    (out / "report.html").write_text(render_html(document, history=history, lang=lang), encoding="utf-8")
    _point_latest(base, run_dir_name, out)
    return out
