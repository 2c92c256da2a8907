"""4.2 access control (AC-001..016): every control on a compliant recorded fact set and on one break
that fails exactly it; the live reader against a small identity provider and application on
loopback over TLS (tests/unit/idp_fake.py), both ways; the static reader on the baseline's lmConf."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Optional

import pyotp
import pytest
import yaml

from plancheck.facts import access as access_mod
from plancheck.facts import access_lmconf as lm
from plancheck.facts import access_probe
from plancheck.facts.access import AccessFacts, AccessSource
from plancheck.facts.access_http import Codes, classify, form_with, parse_set_cookie
from plancheck.facts.base import Context, Unavailable
from plancheck.facts.mariadb_grants import parse_grants
from plancheck.profile.loader import load_profile
from plancheck.profile.models import Profile
from tests.audit import ROOT, load_good_facts, mutate, run_audit
from tests.unit.idp_fake import FakePlatform, Flags

PROD = load_profile("prod", ROOT / "profiles")
GOOD = load_good_facts()
Facts = dict[str, Any]


def _obs(outcome: str, evidence: str = "recorded") -> dict[str, str]:
    return {"outcome": outcome, "evidence": evidence}


def good_access(profile: Profile = PROD) -> dict[str, Any]:
    """What the live reader records on a compliant platform (the matrix of the profile, answered)."""
    ac = profile.security.access_control
    absent = {"__unavailable__": True, "kind": "absent", "reason": "session.probe_expiry is off"}
    return {
        "source": "https://127.0.0.1/", "provider": "lemonldap-ng: idp:/var/lib/lemonldap-ng/conf/lmConf-1.json",
        "cells": {f"{role}|{n}": _obs("allowed", "HTTP 200") if role in r.allow else _obs("denied", "HTTP 403")
                  for n, r in ac.routes.items() if not r.public for role in ac.roles},
        "anonymous": {n: _obs("allowed", "HTTP 200") if r.public else _obs("denied-redirect", "HTTP 302 to /?url=")
                      for n, r in ac.routes.items()},
        "unknown_routes": {f"{p}|{who}": _obs("denied-redirect" if who == "anonymous" else "denied")
                           for p in ac.unknown_routes for who in ["anonymous", *ac.roles]},
        "published_routes": {rl.path: sorted(r.path for r in ac.routes.values() if r.path.startswith("/api/"))
                             for rl in ac.route_lists},
        "mfa": {role: {"password_only": _obs("second-factor"), "valid_code": _obs("session"),
                       "wrong_code": _obs("refused"), "expired_code": _obs("refused"),
                       "replayed_code": _obs("refused")} for role, s in ac.roles.items() if s.mfa},
        "mfa_groups": ["admins"],
        "mfa_routes": {n: _obs("second-factor-required") for n, r in ac.routes.items() if r.mfa},
        "cookie": {"name": "lemonldap", "secure": True, "http_only": True, "same_site": "Strict",
                   "persistent": False, "evidence": "Set-Cookie attributes: path, httponly, secure, samesite"},
        "fixation": _obs("regenerated"), "logout": _obs("invalidated"),
        "idle": {"configured_s": 900, "observed": absent},
        "absolute": {"configured_s": 43200, "observed": absent},
    }


def recorded(access: Optional[dict[str, Any]] = None) -> Facts:
    return {"_meta": {"mode": "live", "profile": "prod"}, "access": access or good_access(),
            "mariadb": GOOD["mariadb"], "redis": GOOD["redis"]}


def acc(*path_and_value: Any) -> Callable[[Facts], None]:
    """Set access facts at a key path: acc("cells", "user|api-admin", value)."""
    *path, value = path_and_value

    def apply(f: Facts) -> None:
        node = f["access"]
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = value
    return apply


def grant(account: str, obj: str, *privs: str) -> Callable[[Facts], None]:
    def apply(f: Facts) -> None:
        f["mariadb"]["grants"][account]["privileges"].setdefault(obj, []).extend(privs)
    return apply


def redis_rules(user: str, rules: list[str]) -> Callable[[Facts], None]:
    return lambda f: f["redis"]["acl_users"].__setitem__(user, rules)


CASES: dict[str, Callable[[Facts], None]] = {
    # a role granted a route it must not have
    "AC-001": acc("cells", "user|api-admin", _obs("allowed", "HTTP 200")),
    "AC-002": acc("anonymous", "api-models", _obs("allowed", "HTTP 200")),
    "AC-003": acc("unknown_routes", "api|admin", _obs("allowed", "HTTP 200")),
    "AC-004": acc("published_routes", "/api/openapi.json", ["/api/openapi.json", "/api/v1/debug"]),
    # MFA optional for admins
    "AC-005": acc("mfa", "admin", "password_only", _obs("session")),
    "AC-006": acc("mfa", "admin", "expired_code", _obs("session")),
    "AC-007": acc("mfa", "admin", "replayed_code", _obs("session")),
    "AC-008": acc("mfa_routes", "admin-home", _obs("not-required")),
    # a cookie without Secure
    "AC-009": acc("cookie", "secure", False),
    "AC-010": acc("fixation", _obs("adopted")),
    # logout leaving the session valid
    "AC-011": acc("logout", _obs("still-valid")),
    # idle timeout raised
    "AC-012": acc("idle", "configured_s", 3600),
    "AC-013": acc("absolute", "configured_s", 86400),
    # a service account with a privilege outside its allow-list
    "AC-014": grant("app@%", "*.*", "FILE"),
    "AC-015": redis_rules("app", ["~*", "&*", "+@all", "-@admin"]),
    "AC-016": lambda f: f["mariadb"]["grants"].__setitem__("report@%", {"privileges": {"*.*": ["USAGE"]}, "roles": []}),
}


def test_compliant_recorded_facts_pass(tmp_path: Path) -> None:
    res = run_audit(tmp_path, "prod", facts=recorded(), args=["-k", "test_access"])
    assert res.failed == set() and res.errors == set(), (res.failed, res.errors, res.items("error")[:1])
    assert set(CASES) <= res.passed, sorted(set(CASES) - res.passed)
    # no secret, no cookie value in what the reports carry
    assert "pw-admin" not in json.dumps(res.doc)


@pytest.mark.parametrize("control", [pytest.param(c, marks=pytest.mark.breaks(c), id=c) for c in sorted(CASES)])
def test_control_fails_on_its_break(tmp_path: Path, control: str) -> None:
    res = run_audit(tmp_path, "prod", facts=mutate(recorded(), CASES[control]), args=["-k", "test_access"])
    assert res.failed == {control}, res.failed
    assert res.errors == set(), res.items("error")[:1]
    failed = res.items("failed")
    assert failed and all(c["message"].startswith(control) and c["expected"] and c["found"] for c in failed)


def test_cookie_break_fails_only_its_attribute(tmp_path: Path) -> None:
    res = run_audit(tmp_path, "prod", facts=mutate(recorded(), CASES["AC-009"]), args=["-k", "test_access"])
    assert [c["nodeid"].split("::")[-1] for c in res.items("failed")] == ["test_cookie_attribute[secure]"]


def test_a_probe_that_could_not_tell_is_an_error_never_a_denial(tmp_path: Path) -> None:
    unknown = {"__unavailable__": True, "kind": "unknown", "reason": "GET https://127.0.0.1/api/v1/models: no answer"}
    res = run_audit(tmp_path, "prod", facts=mutate(recorded(), acc("cells", "user|api-admin", unknown)),
                    args=["-k", "test_access"])
    assert res.failed == set() and res.errors == {"AC-001"}
    assert "no answer" in res.items("error")[0]["message"]


def test_skip_live_skips_behaviour_with_the_reason(tmp_path: Path) -> None:
    """A profile that says the provider does not run here: its live facts are absent, not failed
    (and nothing is contacted)."""
    child = tmp_path / "p.yaml"
    child.write_text(yaml.safe_dump({"extends": str(ROOT / "profiles/baseline.yaml"), "security": {
        "access_control": {"skip_live": "the identity provider is not started by default on this host"}}}))
    ctx = Context(profile=load_profile(str(child)), root=ROOT, mode="live")
    facts = AccessSource().live(ctx)
    assert all(isinstance(v, Unavailable) and v.kind == "absent" for v in facts.cells.values())
    assert isinstance(facts.logout, Unavailable) and "not started by default" in facts.logout.reason


# --- the static reader ------------------------------------------------------------------------------
def test_static_audit_of_the_baseline_lmconf_passes(tmp_path: Path) -> None:
    res = run_audit(tmp_path, "prod", static=True, args=["-k", "test_access"])
    assert res.failed == set() and res.errors == set(), (res.failed, res.items("error")[:1])
    assert {"AC-001", "AC-002", "AC-003", "AC-005", "AC-008", "AC-009", "AC-012", "AC-013"} <= res.passed


def _static_with(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Any:
    conf = json.loads((ROOT / "baseline/config/idp/lmConf-1.json").read_text())
    change(conf)
    path = tmp_path / "lmConf-1.json"
    path.write_text(json.dumps(conf))
    child = tmp_path / "static.yaml"
    child.write_text(yaml.safe_dump({"extends": str(ROOT / "profiles/prod.yaml"),
                                     "target": {"config_files": {"idp-config": [str(path)]}}}))
    return run_audit(tmp_path, str(child), static=True, args=["-k", "test_access"])


@pytest.mark.parametrize("control,change", [
    ("AC-001", lambda c: c["locationRules"]["gateway"].__setitem__("^/api/v1/models$", 'inGroup("users")')),
    ("AC-003", lambda c: c["locationRules"]["gateway"].__setitem__("default", "accept")),
    ("AC-005", lambda c: c.__setitem__("totp2fActivation", 'has2f("TOTP")')),
    ("AC-009", lambda c: c.__setitem__("securedCookie", 0)),
    ("AC-012", lambda c: c.__setitem__("timeoutActivity", 0)),
    ("AC-013", lambda c: c.__setitem__("timeout", 72000)),
], ids=["AC-001", "AC-003", "AC-005", "AC-009", "AC-012", "AC-013"])
def test_static_break_in_lmconf(tmp_path: Path, control: str, change: Callable[[dict[str, Any]], None]) -> None:
    assert _static_with(tmp_path, change).failed == {control}


def test_rule_evaluator() -> None:
    assert lm.decide('inGroup("users") or inGroup("admins")', {"users"}, 2) is True
    assert lm.decide('inGroup("admins") and $authenticationLevel >= 5', {"admins"}, 2) is False
    assert lm.decide("accept", None, 0) is False and lm.decide("skip", None, 0) is True
    assert lm.decide('$uid eq "dwho"', {"users"}, 2) is None  # not decidable: never guessed
    assert lm.groups_named('inGroup("admins") or $groups =~ /\\b(?:ops|sre)\\b/') == {"admins", "ops", "sre"}


def test_grants_parser_keeps_no_password_hash() -> None:
    g = parse_grants(["GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*0123456789ABCDEF' REQUIRE X509",
                      "GRANT SELECT, INSERT ON `appdb`.* TO `app`@`%`", "GRANT `reader` TO `app`@`%`"])
    assert g.privileges == {"*.*": ["USAGE"], "appdb.*": ["INSERT", "SELECT"]} and g.roles == ["reader"]
    assert "0123456789" not in g.model_dump_json()


def test_html_forms_and_cookies() -> None:
    page = ("<form action='#' method='post'><input type='hidden' name='token' value='t1'>"
            "<input name='user'><input name='password' type='password'>"
            "<input type='checkbox' name='remember' value='1'></form>")
    f = form_with(page, "user", "password")
    assert f is not None and f.fields == {"token": "t1", "user": "", "password": ""}
    c = parse_set_cookie("lemonldap=abc; path=/; HttpOnly; secure; SameSite=Strict")
    assert c and c.attrs == {"path": "/", "httponly": "", "secure": "", "samesite": "Strict"} and not c.clears
    assert parse_set_cookie("lemonldap=0; expires=Thu, 01 Jan 1970 00:00:00 GMT").clears  # type: ignore[union-attr]


# --- the live reader against a fake provider and application on loopback ---------------------------
class Clock:
    """A simulated clock shared by the probe and the fake: sleeping advances it."""

    def __init__(self) -> None:
        self.t = 1_800_000_010.0  # 10 s into a 30 s TOTP step

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += max(0.0, s)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import ssl

    import trustme

    d = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    client = ca.issue_cert("plancheck-audit")
    ca.cert_pem.write_to_path(str(d / "ca.crt"))
    client.cert_chain_pems[0].write_to_path(str(d / "client.crt"))
    client.private_key_pem.write_to_path(str(d / "client.key"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    server.configure_cert(ctx)
    ca.configure_trust(ctx)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    return {"dir": d, "server_ctx": ctx}


SECRET = pyotp.random_base32()


def fake_run(tmp_path: Path, pki: dict[str, Any], monkeypatch: pytest.MonkeyPatch, flags: Flags,
             session: Optional[dict[str, Any]] = None, ports: Optional[tuple[int, int]] = None) -> AccessFacts:
    clock = Clock()
    monkeypatch.setattr(access_probe, "CLOCK", clock)
    monkeypatch.setattr(access_probe, "SLEEP", clock.sleep)
    # the running provider's configuration, as the container would give it
    monkeypatch.setattr(access_mod, "_conf", lambda ctx, ac, live: lm.parse(
        (ROOT / "baseline/config/idp/lmConf-1.json").read_text(), "idp:/var/lib/lemonldap-ng/conf/lmConf-1.json"))
    with FakePlatform(pki["server_ctx"], SECRET, flags, clock) as fake:
        gw, ad = ports or (fake.gateway_port, fake.admin_port)
        d = pki["dir"]
        child = {"extends": str(ROOT / "profiles/prod.yaml"), "name": "fake-idp",
                 "target": {"endpoints": {"gateway": {"host": "127.0.0.1", "port": gw, "server_name": "localhost"},
                                          "admin-portal": {"host": "127.0.0.1", "port": ad, "server_name": "localhost"}},
                            "tls_client": {"ca": str(d / "ca.crt"), "cert": str(d / "client.crt"),
                                           "key": str(d / "client.key")}},
                 "security": {"access_control": {
                     "roles": {"admin": {"identities": [{"user": "pc-admin", "password_env": "T_ADMIN_PW",
                                                         "totp_secret_env": "T_ADMIN_TOTP"}]},
                               "user": {"identities": [{"user": "pc-user", "password_env": "T_USER_PW"}]}},
                     **({"session": session} if session else {})}}}
        path = tmp_path / "fake.yaml"
        path.write_text(yaml.safe_dump(child))
        env = {"T_ADMIN_PW": "pw-admin", "T_ADMIN_TOTP": SECRET, "T_USER_PW": "pw-user"}
        ctx = Context(profile=load_profile(str(path)), root=ROOT, mode="live", env=env)
        return AccessSource().live(ctx)


def outcomes(d: dict[str, Any]) -> dict[str, str]:
    return {k: (v.outcome if not isinstance(v, Unavailable) else f"unknown: {v.reason}") for k, v in d.items()}


def test_live_reader_on_a_compliant_fake(tmp_path: Path, pki: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    f = fake_run(tmp_path, pki, monkeypatch, Flags())
    ac = PROD.security.access_control
    assert outcomes(f.cells) == {f"{role}|{n}": ("allowed" if role in r.allow else "denied")
                                 for n, r in ac.routes.items() if not r.public for role in ac.roles}
    assert outcomes(f.anonymous) == {n: ("allowed" if r.public else "denied-redirect") for n, r in ac.routes.items()}
    assert set(outcomes(f.unknown_routes).values()) == {"denied", "denied-redirect"}
    assert f.published_routes["/api/openapi.json"] == sorted(
        ["/api/openapi.json", "/api/v1/models", "/api/v1/chat/completions", "/api/admin/usage"])
    m = f.mfa["admin"]
    assert [o.outcome for o in (m.password_only, m.wrong_code, m.expired_code, m.valid_code, m.replayed_code)] == \
        ["second-factor", "refused", "refused", "session", "refused"]  # type: ignore[union-attr]
    assert f.cookie.secure and f.cookie.http_only and f.cookie.same_site == "Strict" and not f.cookie.persistent  # type: ignore[union-attr]
    assert f.fixation.outcome == "regenerated" and f.logout.outcome == "invalidated"  # type: ignore[union-attr]
    # and the controls judge these live-read facts compliant
    facts = {"_meta": {"mode": "live", "profile": "prod"}, "access": f.model_dump(mode="json"),
             "mariadb": GOOD["mariadb"], "redis": GOOD["redis"]}
    res = run_audit(tmp_path, "prod", facts=facts, args=["-k", "test_access"])
    assert res.failed == set() and res.errors == set(), (res.failed, res.items("error")[:1], res.items("failed")[:1])
    assert SECRET not in json.dumps(facts) and "pw-admin" not in json.dumps(facts)


@pytest.mark.parametrize("flags,where,expected", [
    (Flags(replay_protection=False), lambda f: f.mfa["admin"].replayed_code.outcome, "session"),
    (Flags(logout_invalidates=False), lambda f: f.logout.outcome, "still-valid"),
    (Flags(adopt_planted=True), lambda f: f.fixation.outcome, "adopted"),
    (Flags(admin_mfa=False), lambda f: f.mfa["admin"].password_only.outcome, "session"),
    (Flags(secure_cookie=False), lambda f: f.cookie.secure, False),
    (Flags(user_can_admin=True), lambda f: f.cells["user|api-admin"].outcome, "allowed"),
    (Flags(error_route="/chat/rooms"), lambda f: f.cells["user|chat-rooms"].outcome, "server-error"),
    (Flags(loop_route="/auth/whoami"), lambda f: f.cells["user|auth-whoami"].outcome, "redirect-loop"),
    (Flags(published=["/api/v1/models", "/api/v1/debug"]), lambda f: f.published_routes["/api/openapi.json"],
     ["/api/v1/debug", "/api/v1/models"]),
], ids=["replay", "logout", "fixation", "no-mfa", "insecure-cookie", "rbac", "5xx", "loop", "unplanned-route"])
def test_live_reader_sees_each_weakness(tmp_path: Path, pki: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                       flags: Flags, where: Callable[[AccessFacts], Any], expected: Any) -> None:
    assert where(fake_run(tmp_path, pki, monkeypatch, flags)) == expected


def test_live_expiry_probe_on_a_short_limit_profile(tmp_path: Path, pki: dict[str, Any],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    short = {"idle_timeout": "60s", "absolute_timeout": "180s", "probe_expiry": True, "expiry_margin_s": 5}
    f = fake_run(tmp_path, pki, monkeypatch, Flags(idle_s=60, absolute_s=180), session=short)
    assert f.idle.observed.outcome == "expired" and f.absolute.observed.outcome == "expired"  # type: ignore[union-attr]
    assert "active every 30s" in f.absolute.observed.evidence  # type: ignore[union-attr]
    f = fake_run(tmp_path, pki, monkeypatch, Flags(idle_s=60, absolute_s=None), session=short)
    assert f.absolute.observed.outcome == "still-valid"  # type: ignore[union-attr]


def test_unreachable_provider_is_could_not_tell(tmp_path: Path, pki: dict[str, Any],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    f = fake_run(tmp_path, pki, monkeypatch, Flags(), ports=(port, port))
    values = [*f.cells.values(), *f.anonymous.values(), *f.unknown_routes.values(), f.logout, f.fixation]
    assert values and all(isinstance(v, Unavailable) and v.kind == "unknown" for v in values)


def test_totp_codes_helper() -> None:
    clock = Clock()
    c = Codes(SECRET, 30, 6, 1, clock)
    t = pyotp.TOTP(SECRET)
    assert c.now() == t.at(clock.t) and c.expired() == t.at(clock.t - 90)
    assert c.wrong() not in {t.at(clock.t + k * 30) for k in range(-3, 4)}
    clock.t = 1_800_000_025.0  # 5 s left in the step: wait into the next one
    c.wait_for_fresh_step(12, clock.sleep)
    assert clock.t % 30 < 1


def test_classify_never_follows_another_site() -> None:
    class W:
        def send(self, method: str, url: str, cookies: Any = None, data: Any = None) -> Any:
            from plancheck.facts.access_http import Answer

            return Answer(url=url, status=302, location="https://evil.example/x", text="", cookies=[])

        def _front_of(self, url: str) -> Optional[str]:
            return "gateway" if "127.0.0.1" in url else None

    o = classify(W(), "GET", "https://127.0.0.1/api/v1/models", None, lambda u: False, 5)  # type: ignore[arg-type]
    assert o.outcome == "redirect" and "not followed" in o.evidence


def test_a_redirect_that_ends_on_a_login_form_is_a_denial() -> None:
    """A front that sends a refused client through its own redirects to a login page (an 'upgrade
    session' page, a login path the profile does not name) is refusing, not granting."""
    from plancheck.facts.access_http import Answer

    class W:
        def send(self, method: str, url: str, cookies: Any = None, data: Any = None) -> Any:
            if url.endswith("/api/admin/usage"):
                return Answer(url=url, status=302, location="https://127.0.0.1/upgradesession?url=x", text="", cookies=[])
            return Answer(url=url, status=200, location="", cookies=[],
                          text="<form><input name='user'><input name='password'></form>")

        def _front_of(self, url: str) -> Optional[str]:
            return "gateway"

    o = classify(W(), "GET", "https://127.0.0.1/api/admin/usage", None, lambda u: False, 5,  # type: ignore[arg-type]
                 ("user", "password"))
    assert o.outcome == "denied-redirect" and "login form" in o.evidence
