"""LOG-005 (Elasticsearch ILM delete phase per class) against RECORDED REST responses: Elasticsearch
cannot be installed on the reference machines, so this is the only place the source runs."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from plancheck.facts.base import FactError
from plancheck.facts.elasticsearch import NOT_CONFIGURED, es_duration_days, parse_policies
from tests.audit import run_audit
from tests.unit.rest_fake import FakeRest, child_profile, endpoint, recorded

ARGS = ["-k", "test_ilm_policy and not test_ilm_policy_file"]  # LOG-005 (LOG-009 reads the policy files)


def _profile(tmp_path: Path, port: int) -> str:
    return child_profile(tmp_path, {"target": {"endpoints": {"elasticsearch": endpoint(port)}},
                                    "logs": {"elasticsearch": {"endpoint": "elasticsearch"}}})


def _routes(policy: object) -> dict:
    return {"/": (200, recorded("elasticsearch/root.json")), "/_ilm/policy": (200, policy)}


def test_parse_recorded_policies() -> None:
    pols = parse_policies(recorded("elasticsearch/ilm_policy.json"))
    assert pols["logs-realtime"].delete_min_age_days == 7
    assert pols["logs-important"].delete_min_age_days == 365
    assert pols["logs-audit"].delete_min_age_days == 1825 and pols["logs-audit"].deletes
    assert pols["logs"].delete_min_age is None and not pols["logs"].deletes  # hot phase only


@pytest.mark.parametrize("text,days", [("7d", 7), ("36h", 1.5), ("0ms", 0), ("1440m", 1)])
def test_durations(text: str, days: float) -> None:
    assert es_duration_days(text) == pytest.approx(days)


def test_duration_garbage() -> None:
    with pytest.raises(FactError):
        es_duration_days("7 days")


def test_ilm_policies_match_the_plan(tmp_path: Path) -> None:
    with FakeRest(_routes(recorded("elasticsearch/ilm_policy.json"))) as srv:
        res = run_audit(tmp_path, _profile(tmp_path, srv.port), args=ARGS)
    assert {c["outcome"] for c in res.checks} == {"passed"} and len(res.checks) == 3, res.checks
    assert "/_ilm/policy" in srv.requests
    assert NOT_CONFIGURED not in res.doc["run"]["notes"]


def test_audit_policy_deleting_after_30_days_fails(tmp_path: Path) -> None:
    with FakeRest(_routes(recorded("elasticsearch/ilm_policy_audit_30d.json"))) as srv:
        res = run_audit(tmp_path, _profile(tmp_path, srv.port), args=ARGS)
    failed = res.items("failed")
    assert [c["nodeid"].split("[")[-1] for c in failed] == ["audit]"]
    assert failed[0]["control"] == "LOG-005" and "1825 days" in failed[0]["message"] and "30d" in failed[0]["message"]


@pytest.mark.breaks("LOG-005")
def test_policy_without_delete_phase_fails(tmp_path: Path) -> None:
    doc = copy.deepcopy(recorded("elasticsearch/ilm_policy.json"))
    del doc["logs-realtime"]["policy"]["phases"]["delete"]
    with FakeRest(_routes(doc)) as srv:
        res = run_audit(tmp_path, _profile(tmp_path, srv.port), args=ARGS)
    assert res.failed == {"LOG-005"} and len(res.items("failed")) == 1
    assert "delete phase" in res.items("failed")[0]["message"]


def test_missing_policy_fails(tmp_path: Path) -> None:
    doc = copy.deepcopy(recorded("elasticsearch/ilm_policy.json"))
    del doc["logs-important"]
    with FakeRest(_routes(doc)) as srv:
        res = run_audit(tmp_path, _profile(tmp_path, srv.port), args=ARGS)
    assert "logs-important not found" in res.items("failed")[0]["message"]


def test_unreachable_is_one_line_error(tmp_path: Path) -> None:
    with FakeRest({"/": (503, {"error": "unavailable"})}) as srv:
        res = run_audit(tmp_path, _profile(tmp_path, srv.port), args=ARGS, allow_all_errors=True)
    errs = res.items("error") + res.items("failed")
    assert errs and all("HTTP 503" in c["message"] and "\n" not in c["message"] for c in errs)


def test_no_endpoint_is_skipped_and_noted(tmp_path: Path) -> None:
    res = run_audit(tmp_path, "baseline", args=ARGS)
    assert {c["outcome"] for c in res.checks} == {"skipped"}
    assert all("not verified live" in c["message"] for c in res.checks)
    assert NOT_CONFIGURED in res.doc["run"]["notes"]
