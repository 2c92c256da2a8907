"""4.2 access control on the running identity provider: break one family of the policy at a time the
way an operator would (edit the provider's lmConf-1.json and restart it, or widen a service
account's grants), run the access-control audit, see exactly the matching control fail, and see it
pass again after the restore (issue: RBAC, MFA and sessions verified by behaviour)."""
from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.audit import ROOT
from tests.live.conftest import DOCKER, container, sh, sql

LMCONF = ROOT / "baseline/config/idp/lmConf-1.json"


def _wait_healthy(name: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    status = ""
    while time.monotonic() < deadline:
        status = sh(DOCKER, "inspect", "-f", "{{.State.Health.Status}}", name, check=False).strip()
        if status == "healthy":
            return
        time.sleep(1)
    raise AssertionError(f"{name} not healthy after {timeout_s:.0f} s (last: {status or 'unknown'})")


def _restart_provider() -> None:
    # the entrypoint renders lmConf-1.json at start; sessions live in tmpfs, so everyone is logged out
    sh(DOCKER, "restart", "-t", "5", container("idp"))
    _wait_healthy(container("idp"))


def _setting(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda conf: conf.__setitem__(key, value)


def _user_granted_the_admin_route(conf: dict[str, Any]) -> None:
    # the usual slip: the rule is widened and its "(?#AuthnLevel=5)" marker lost with the old key
    rules = conf["locationRules"]["gateway"]
    rules.pop("(?#AuthnLevel=5)^/api/admin/usage$")
    rules["^/api/admin/usage$"] = 'inGroup("admins") or inGroup("users")'


def _mfa_off(conf: dict[str, Any]) -> None:
    conf["totp2fActivation"] = 0
    conf["sfRequired"] = 0


# id: (change to lmConf, controls expected to fail, controls expected to error). One ASVS family each:
# an RBAC cell, the second factor, the idle limit, a cookie attribute, logout.
PROVIDER_BREAKS: dict[str, tuple[Callable[[dict[str, Any]], None], set[str], set[str]]] = {
    # users reach /api/admin/usage (AC-001), and the route no longer asks for the second factor (AC-008)
    "user-granted-the-admin-route": (_user_granted_the_admin_route, {"AC-001", "AC-008"}, set()),
    # admins log in with the password alone (AC-005), so they no longer reach the level-5 routes
    # (AC-001); with no code ever asked, the code checks cannot be judged (AC-006/007 error)
    "mfa-off-for-admins": (_mfa_off, {"AC-001", "AC-005"}, {"AC-006", "AC-007"}),
    "idle-timeout-raised": (_setting("timeoutActivity", 3600), {"AC-012"}, set()),
    "cookie-without-secure": (_setting("securedCookie", 0), {"AC-009"}, set()),
    # the handler keeps each session it checked for 10 min: a logged-out cookie stays good there
    "logout-leaves-session-valid": (_setting("handlerInternalCache", 600), {"AC-011"}, set()),
}


@contextlib.contextmanager
def _edited(change: Callable[[dict[str, Any]], None]) -> Iterator[None]:
    original = LMCONF.read_bytes()
    conf = json.loads(original)
    change(conf)
    try:
        # written in place (same inode): the bind mount of a running container keeps seeing the file
        with LMCONF.open("r+b") as f:
            f.write(json.dumps(conf, indent=3, sort_keys=True).encode() + b"\n")
            f.truncate()
        _restart_provider()
        yield
    finally:
        with LMCONF.open("r+b") as f:
            f.write(original)
            f.truncate()
        _restart_provider()


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.breaks(c) for c in sorted(b[1])], id=n)
                                  for n, b in PROVIDER_BREAKS.items()])
def test_provider_break_is_detected(name: str, baseline_audit, clean_baseline) -> None:  # type: ignore[no-untyped-def]
    change, expected, unjudged = PROVIDER_BREAKS[name]
    with _edited(change):
        broken = baseline_audit("-k", "test_access")
        assert broken.failed == expected, broken.out
        assert broken.errors == unjudged, broken.out
        msgs = [c["message"] for c in broken.items("failed")]
        assert all(any(ctl in m for ctl in expected) for m in msgs)
    healed = baseline_audit("-k", "test_access")
    assert healed.failed == set() and healed.errors == set(), healed.out


@pytest.mark.breaks("AC-014")
def test_service_account_privilege_outside_allow_list(baseline_audit, clean_baseline) -> None:  # type: ignore[no-untyped-def]
    sql("GRANT FILE ON *.* TO 'app'@'%'")
    try:
        broken = baseline_audit("-k", "test_access or test_mariadb")
        assert broken.failed == {"AC-014"}, broken.out
    finally:
        sql("REVOKE FILE ON *.* FROM 'app'@'%'")
    healed = baseline_audit("-k", "test_access or test_mariadb")
    assert healed.failed == set() and healed.errors == set(), healed.out
