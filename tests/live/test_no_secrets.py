"""Secrets never leave the platform: no password or private key of the baseline appears in the
reports or the recorded facts of a full live audit."""
from __future__ import annotations

from pathlib import Path

from tests.audit import ROOT, run_audit

SECRETS = ROOT / "baseline" / ".secrets"
PKI = ROOT / "baseline" / ".pki"


def _secret_strings() -> list[str]:
    values = [p.read_text().strip() for p in (SECRETS / "passwords").glob("*") if p.is_file()]
    for key in list(PKI.rglob("*.key")) + list(PKI.rglob("keyfile")):
        body = [line for line in key.read_text().splitlines() if line and not line.startswith("-----")]
        values += [line for line in body if len(line) >= 16]
    return [v for v in values if len(v) >= 8]


def test_reports_and_facts_hold_no_secret(tmp_path: Path) -> None:
    secrets = _secret_strings()
    assert secrets, "no secrets found to look for (is the baseline deployed?)"
    dump = tmp_path / "facts.json"
    run_audit(tmp_path, "baseline", args=[f"--dump-facts={dump}"])
    for f in [dump, *(tmp_path / "reports" / "latest").iterdir()]:
        text = f.read_text(errors="replace")
        leaked = [s[:4] + "..." for s in secrets if s in text]
        assert not leaked, f"{f.name} contains secrets: {leaked}"
