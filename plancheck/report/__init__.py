"""Report writers: results.json is written first; JUnit and HTML are rendered from that same data."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from plancheck.report.html import render_html
from plancheck.report.junit import render_junit


def write_reports(base: Path, run_dir_name: str, document: dict[str, Any]) -> Path:
    """Write reports/<run>/{results.json,junit.xml,report.html} and point reports/latest at it."""
    out = base / run_dir_name
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
    (out / "junit.xml").write_text(render_junit(document), encoding="utf-8")
    (out / "report.html").write_text(render_html(document), encoding="utf-8")
    latest = base / "latest"
    tmp = base / f".latest-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run_dir_name)
    os.replace(tmp, latest)  # atomic: a reader never sees latest missing
    return out
