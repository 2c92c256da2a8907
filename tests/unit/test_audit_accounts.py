"""Issue 10.5: the audit's own MariaDB and Redis accounts can only read, and the report shows their
grants and ACL rules (results.json `audit_accounts`, report.html "Audit accounts"), from the facts of
the run: the recorded `mariadb` facts hold SHOW GRANTS of every account, the `redis` facts the ACL rules
of every user; the accounts are those the profile's endpoints connect as."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from plancheck.audit_accounts import mariadb_accounts, merge_accounts, redis_accounts
from plancheck.facts.mariadb_grants import AccountGrants
from tests.audit import ROOT, ReferenceRun, load_good_facts, mutate, run_audit

SCHEMA = json.loads((ROOT / "docs" / "results.schema.json").read_text())
STORES = ["-k", "test_sql_account_privileges or test_redis_acl_user"]  # the checks that read both stores


def _by_store(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["store"]: a for a in doc["audit_accounts"]}


def test_recorded_audit_accounts_are_shown_read_only(good_baseline: ReferenceRun) -> None:
    doc = good_baseline.result.doc
    jsonschema.validate(doc, SCHEMA)
    by = _by_store(doc)
    assert set(by) == {"mariadb", "redis"} and len(doc["audit_accounts"]) == 2
    db, cache = by["mariadb"], by["redis"]
    assert db["account"] == "plancheck_audit@%" and db["read_only"] is True and db["changes"] == []
    assert {"PROCESS ON *.*", "SELECT ON mysql.*", "SELECT ON performance_schema.*"} <= set(db["grants"])
    assert cache["account"] == "plancheck" and cache["read_only"] is True and cache["changes"] == []
    assert "-@all" in cache["grants"] and "+info" in cache["grants"]
    # ACL rules without secrets: no password (>), hash (#, <, !) or nopass
    assert not [r for r in cache["grants"] if r[:1] in "><#!" or r == "nopass"]


def test_report_html_shows_the_accounts(good_baseline: ReferenceRun) -> None:
    page = (good_baseline.reports / "latest" / "report.html").read_text(encoding="utf-8")
    assert 'id="audit-accounts"' in page and "Audit accounts (what this audit could change)" in page
    assert "<code>plancheck_audit@%</code>" in page and "<code>plancheck</code>" in page


def test_an_account_that_could_write_is_not_read_only(tmp_path: Path) -> None:
    def widen(f: dict[str, Any]) -> None:
        f["mariadb"]["grants"]["plancheck_audit@%"]["privileges"]["appdb.*"] = ["INSERT", "SELECT"]
        f["redis"]["acl_users"]["plancheck"] += ["+set", "~*"]

    res = run_audit(tmp_path, "baseline", facts=mutate(load_good_facts(), widen), args=STORES)
    jsonschema.validate(res.doc, SCHEMA)
    by = _by_store(res.doc)
    assert by["mariadb"]["read_only"] is False and by["mariadb"]["changes"] == ["INSERT ON appdb.*"]
    assert by["redis"]["read_only"] is False and by["redis"]["changes"] == ["+set"]
    assert "AC-014" in res.failed and "AC-015" in res.failed  # the least-privilege controls say it too
    page = (tmp_path / "reports" / "latest" / "report.html").read_text(encoding="utf-8")
    assert "INSERT ON appdb.*" in page


def test_static_mode_has_no_accounts(tmp_path: Path) -> None:
    res = run_audit(tmp_path, "baseline", static=True, args=["-k", "test_mariadb"])
    assert res.doc["audit_accounts"] == []
    assert 'id="audit-accounts"' not in (tmp_path / "reports" / "latest" / "report.html").read_text(encoding="utf-8")


def test_sources_not_gathered_show_nothing(tmp_path: Path) -> None:
    res = run_audit(tmp_path, "baseline", facts=load_good_facts(), args=["-k", "test_allocation"])
    assert res.doc["audit_accounts"] == []


def test_read_only_is_an_allow_list() -> None:
    grants = {"plancheck_audit@%": AccountGrants(privileges={"*.*": ["LOCK TABLES", "PROCESS"]}, roles=["auditor"]),
              "plancheck_audit@localhost": AccountGrants(privileges={"*.*": ["USAGE"]}),
              "app@%": AccountGrants(privileges={"*.*": ["ALL PRIVILEGES"]})}
    got = {a["account"]: a for a in mariadb_accounts(grants, "plancheck_audit")}
    assert set(got) == {"plancheck_audit@%", "plancheck_audit@localhost"}  # every host, no other user
    assert got["plancheck_audit@%"]["changes"] == ["LOCK TABLES ON *.*", "role auditor"]
    assert got["plancheck_audit@localhost"]["read_only"] is True
    # +@connection holds CLIENT KILL; allcommands everything; key patterns and denials grant no command
    assert redis_accounts({"u": ["-@all", "+@connection", "~*"]}, "u")[0]["changes"] == ["+@connection"]
    assert redis_accounts({"u": ["allcommands"]}, "u")[0]["read_only"] is False
    assert redis_accounts({"u": ["-@all", "+@read", "~*", "&*"]}, "u")[0]["read_only"] is True
    assert redis_accounts({"v": []}, "u") == []


def test_workers_merge_to_one_entry_per_account() -> None:
    seen = {"store": "redis", "account": "plancheck", "grants": ["-@all"], "read_only": True, "changes": [], "note": ""}
    unseen = dict(seen, grants=[], read_only=None, note="not observed: x")
    assert merge_accounts([[unseen], [seen], []]) == [seen]
    assert merge_accounts([[seen], [unseen]]) == [seen]
