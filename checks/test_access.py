"""4.2 데이터 보안 — 접근 제어: "RBAC 기반 권한 관리, MFA 인증, 세션 관리", proven by behaviour: the audit
logs in as each role and asks every route of the profile's matrix; least privilege of the data
stores' accounts (MariaDB grants, Redis ACL users) against the profile's allow-lists.

Controls are tagged with their OWASP ASVS 4.0.3 requirement ids (asvs:V.S.R)."""
from __future__ import annotations

from typing import Any

from plancheck.controls import control
from plancheck.evaluate import Check
from plancheck.facts.access import AccessFacts
from plancheck.facts.base import Unavailable
from plancheck.facts.mariadb import MariaDBFacts
from plancheck.facts.redis import RedisFacts
from plancheck.profile.models import Profile
from plancheck.profile.access import RouteList

ACCESS = "4.2 데이터 보안 (access control)"
DENIALS = ("denied", "denied-redirect", "not-found")
NOT_OBSERVED = Unavailable(kind="unknown", reason="not observed by the access source")


def _show(obs: Any) -> str:
    return f"{obs.outcome} ({obs.evidence})" if obs.evidence else obs.outcome


def _route(profile: Profile, name: str) -> str:
    r = profile.security.access_control.routes[name]
    return f"{r.method} {r.endpoint}{r.path}"


@control("AC-001", title="Each role gets exactly its planned answer on each route", severity="critical",
         section=ACCESS, rationale="RBAC means each role reaches what the plan grants it and nothing else; a "
         "5xx or a redirect loop is no answer at all.",
         remediation="Fix the identity provider's access rule for this route (LemonLDAP::NG: locationRules of "
         "the virtual host) or the role's group, then re-run the audit.", tags=("asvs:4.1.1", "asvs:4.1.3",
                                                                               "asvs:4.2.1"),
         reads=("security.access_control.plan", "security.access_control.routes", "security.access_control.roles"))
def test_rbac_cell(check: Check, access_facts: AccessFacts, profile: Profile, access_cell: tuple[str, str]) -> None:
    role, name = access_cell
    obs = check.fact(access_facts.cells.get(f"{role}|{name}", NOT_OBSERVED))
    allowed = role in profile.security.access_control.routes[name].allow
    ok = obs.outcome == "allowed" if allowed else obs.outcome in DENIALS
    check.that(ok, expected="allowed" if allowed else "denied (401/403, 404 or a redirect to the login page)",
               found=_show(obs), what=f"{role} on {_route(profile, name)}")


@control("AC-002", title="Anonymous clients reach only the public routes", severity="critical", section=ACCESS,
         rationale="Every route that is not planned public must require a session.",
         remediation="Protect the route at the front (auth_request to the provider) or mark it public in the "
         "profile if the plan means it to be.", tags=("asvs:4.1.1", "asvs:1.4.1"),
         reads=("security.access_control.plan", "security.access_control.routes.{access_route}"))
def test_anonymous(check: Check, access_facts: AccessFacts, profile: Profile, access_route: str) -> None:
    public = profile.security.access_control.routes[access_route].public
    obs = check.fact(access_facts.anonymous.get(access_route, NOT_OBSERVED))
    ok = obs.outcome == "allowed" if public else obs.outcome in DENIALS
    check.that(ok, expected="allowed (public)" if public else "denied or sent to the login page",
               found=_show(obs), what=f"anonymous on {_route(profile, access_route)}")


@control("AC-003", title="A route nobody planned is denied to every role (default deny)", severity="high",
         section=ACCESS, rationale="Access rules that end in 'accept' grant every path an application adds "
         "later; only a default deny keeps the matrix the whole truth.",
         remediation="End the virtual host's rules with a default of deny (LemonLDAP::NG: locationRules "
         "default = deny) and grant planned paths explicitly.", tags=("asvs:4.1.5", "asvs:4.1.3"),
         reads=("security.access_control.plan", "security.access_control.unknown_routes"))
def test_unknown_route(check: Check, access_facts: AccessFacts, profile: Profile,
                       access_unknown: tuple[str, str]) -> None:
    probe, who = access_unknown
    p = profile.security.access_control.unknown_routes[probe]
    obs = check.fact(access_facts.unknown_routes.get(f"{probe}|{who}", NOT_OBSERVED))
    check.that(obs.outcome in DENIALS, expected="denied or not found", found=_show(obs),
               what=f"{who} on unplanned GET {p.endpoint}{p.path}")


@control("AC-004", title="Every route the application publishes is in the RBAC matrix", severity="medium",
         section=ACCESS, rationale="A route the matrix does not name has no planned answer: nobody decided "
         "who may use it.", remediation="Add the route to security.access_control.routes with its roles, or "
         "remove it from the application.", tags=("asvs:1.4.4", "asvs:4.1.3"),
         reads=("security.access_control.route_lists", "security.access_control.routes"))
def test_published_routes(check: Check, access_facts: AccessFacts, profile: Profile,
                          access_route_list: RouteList) -> None:
    listed = check.fact(access_facts.published_routes.get(access_route_list.path, NOT_OBSERVED))
    planned = {r.path for r in profile.security.access_control.routes.values()
               if r.endpoint == access_route_list.endpoint}
    check.none_of(sorted(p for p in listed if p not in planned), what=f"routes in {access_route_list.path} "
                  "outside the matrix", among=len(listed), noun="published routes")


@control("AC-005", title="A role that needs MFA cannot get a session with its password alone", severity="critical",
         section=ACCESS, rationale="The plan requires MFA; a password that opens a session on its own is one "
         "factor.", remediation="Require the second factor for the role's group (LemonLDAP::NG: "
         "totp2fActivation / sfRequired = inGroup(\"GROUP\")) and enrol the role's users.",
         tags=("asvs:2.2.1", "asvs:4.3.1"),
         reads=("security.access_control.plan", "security.access_control.roles.{mfa_role}"))
def test_mfa_required(check: Check, access_facts: AccessFacts, profile: Profile, mfa_role: str) -> None:
    mfa = access_facts.mfa.get(mfa_role)
    obs = check.fact(mfa.password_only if mfa else NOT_OBSERVED)
    user = profile.security.access_control.roles[mfa_role].identities[0].user
    check.that(obs.outcome == "second-factor", expected="second-factor (asked for the code, no session yet)",
               found=_show(obs), what=f"{mfa_role} ({user}) after the password")


@control("AC-006", title="The current TOTP code opens a session; a wrong or expired one does not", severity="high",
         section=ACCESS, rationale="A second factor proves something only when the provider checks the code "
         "and its time window.", remediation="Check the provider's TOTP settings (interval, digits, range) and "
         "clock (NTP); a wide range accepts old codes.", tags=("asvs:2.8.1", "asvs:2.8.3"),
         reads=("security.access_control.plan", "security.access_control.totp"))
def test_totp_codes(check: Check, access_facts: AccessFacts, mfa_role: str) -> None:
    mfa = access_facts.mfa.get(mfa_role)
    if mfa is None:
        check.fact(NOT_OBSERVED)
    assert mfa is not None
    for what, obs, want in (("the current code", mfa.valid_code, "session"), ("a wrong code", mfa.wrong_code, "refused"),
                            ("an expired code", mfa.expired_code, "refused")):
        o = check.fact(obs)
        check.that(o.outcome == want, expected=want, found=_show(o), what=f"{mfa_role} with {what}")


@control("AC-007", title="A TOTP code cannot be used twice", severity="high", section=ACCESS,
         rationale="A code seen once (shoulder, proxy log, phishing page) must not open a second session "
         "within its 30-second window.", remediation="Use a provider that remembers the last accepted time "
         "step per user and refuses it again (LemonLDAP::NG >= 2.17 does; 2.16 does not).",
         tags=("asvs:2.8.4",),
         reads=("security.access_control.plan", "security.access_control.totp"))
def test_totp_replay(check: Check, access_facts: AccessFacts, mfa_role: str) -> None:
    mfa = access_facts.mfa.get(mfa_role)
    obs = check.fact(mfa.replayed_code if mfa else NOT_OBSERVED)
    check.that(obs.outcome == "refused", expected="refused", found=_show(obs), what=f"{mfa_role} replaying a code")


@control("AC-008", title="An MFA-only route admits only sessions that passed the second factor", severity="critical",
         section=ACCESS, rationale="The admin portal must never open to a session authenticated with a "
         "password alone, whatever group it is in.", remediation="Require the second factor's authentication "
         "level on the virtual host (LemonLDAP::NG: vhostOptions.vhostAuthnLevel >= totp2fAuthnLevel) and "
         "allow only MFA roles on the route.", tags=("asvs:4.3.1", "asvs:2.2.1"),
         reads=("security.access_control.plan", "security.access_control.routes.{mfa_route}", "security.access_control.roles"))
def test_mfa_route(check: Check, access_facts: AccessFacts, profile: Profile, mfa_route: str) -> None:
    ac = profile.security.access_control
    obs = check.fact(access_facts.mfa_routes.get(mfa_route, NOT_OBSERVED))
    check.that(obs.outcome == "second-factor-required", expected="second-factor-required", found=_show(obs),
               what=f"provider on {_route(profile, mfa_route)}")
    plain = sorted(r for r in ac.routes[mfa_route].allow if not ac.roles[r].mfa)
    check.that(not plain, expected="only roles with mfa", found=plain or "only roles with mfa",
               what="roles the matrix allows there")


@control("AC-009", title="The session cookie carries its protective attributes", severity="high", section=ACCESS,
         rationale="Without Secure the session id can leave over plain HTTP; without HttpOnly a script can read "
         "it; without SameSite it rides on cross-site requests; a persistent cookie outlives the browser.",
         remediation="Set the cookie flags in the provider (LemonLDAP::NG: securedCookie 1, httpOnly 1, "
         "sameSite Strict or Lax, no cookieExpiration).", tags=("asvs:3.4.1", "asvs:3.4.2", "asvs:3.4.3",
                                                                "asvs:3.2.3"),
         reads=("security.access_control.session",))
def test_cookie_attribute(check: Check, access_facts: AccessFacts, profile: Profile, cookie_attribute: str) -> None:
    policy = profile.security.access_control.session
    assert policy is not None
    c = check.fact(access_facts.cookie)
    what = f"{c.name} {cookie_attribute} ({c.evidence})"
    if cookie_attribute == "secure":
        check.equal(c.secure, policy.secure, what=what)
    elif cookie_attribute == "httponly":
        check.equal(c.http_only, policy.http_only, what=what)
    elif cookie_attribute == "samesite":
        check.that(c.same_site.lower() in [s.lower() for s in policy.same_site], expected=" or ".join(policy.same_site),
                   found=c.same_site or "not set", what=what)
    else:
        check.equal(c.persistent, policy.persistent, what=f"{c.name} persistent (Expires/Max-Age) ({c.evidence})")


@control("AC-010", title="Logging in issues a new session id (no fixation)", severity="high", section=ACCESS,
         rationale="A provider that keeps an id set before login lets whoever planted it share the session.",
         remediation="Regenerate the session id on authentication (LemonLDAP::NG does unless patched).",
         tags=("asvs:3.2.1",),
         reads=("+asvs",))
def test_no_fixation(check: Check, access_facts: AccessFacts) -> None:
    obs = check.fact(access_facts.fixation)
    check.that(obs.outcome == "regenerated", expected="a new id after login", found=_show(obs),
               what="session id planted before login")


@control("AC-011", title="Logout ends the session on the server", severity="high", section=ACCESS,
         rationale="A logout that only drops the browser's cookie leaves a copied cookie valid.",
         remediation="Delete the session in the provider's store on logout and disable handler caches that "
         "outlive it (LemonLDAP::NG: handlerInternalCache 0 on the fronts).", tags=("asvs:3.3.1",),
         reads=("+asvs",))
def test_logout(check: Check, access_facts: AccessFacts) -> None:
    obs = check.fact(access_facts.logout)
    check.that(obs.outcome == "invalidated", expected="the old cookie refused after logout", found=_show(obs),
               what="replay of the session cookie after logout")


def _limit(check: Check, facts: AccessFacts, which: str, planned: int, key: str) -> None:
    limit = getattr(facts, which)
    configured = check.fact(limit.configured_s)
    check.that(0 < configured <= planned, expected=f"<= {planned}s", what=f"{key} (configured)",
               found=f"{configured}s" if configured else "no limit (0)")
    if check.observed(limit.observed):
        obs = limit.observed
        check.that(obs.outcome == "expired", expected=f"refused after {planned}s", found=_show(obs),
                   what=f"{which} session after the limit")


@control("AC-012", title="An idle session ends within the planned inactivity limit", severity="high",
         section=ACCESS, rationale="ASVS 3.3.2 (L2/L3): re-authentication after 15-30 minutes of inactivity.",
         remediation="Set the provider's inactivity timeout (LemonLDAP::NG: timeoutActivity) at or below "
         "security.access_control.session.idle_timeout.", tags=("asvs:3.3.2",),
         reads=("security.access_control.session.idle_timeout",))
def test_idle_timeout(check: Check, access_facts: AccessFacts, profile: Profile) -> None:
    policy = profile.security.access_control.session
    assert policy is not None
    _limit(check, access_facts, "idle", policy.idle_timeout, "timeoutActivity")


@control("AC-013", title="A session ends within the planned absolute lifetime", severity="high", section=ACCESS,
         rationale="ASVS 3.3.2 (L2/L3): re-authentication at least every 12 hours, even while in use.",
         remediation="Set the provider's session lifetime (LemonLDAP::NG: timeout) at or below "
         "security.access_control.session.absolute_timeout.", tags=("asvs:3.3.2",),
         reads=("security.access_control.session.absolute_timeout",))
def test_absolute_timeout(check: Check, access_facts: AccessFacts, profile: Profile) -> None:
    policy = profile.security.access_control.session
    assert policy is not None
    _limit(check, access_facts, "absolute", policy.absolute_timeout, "timeout")


# --- least privilege of the data stores' accounts ------------------------------------------------
def _covers(allowed: list[str], priv: str) -> bool:
    return priv in allowed or "ALL PRIVILEGES" in allowed and priv != "GRANT OPTION" or priv == "USAGE"


@control("AC-014", title="MariaDB account holds only its allow-listed privileges", severity="high", section=ACCESS,
         rationale="Least privilege: a service account with FILE, PROCESS, SUPER, SHUTDOWN, RELOAD, CREATE USER, "
         "GRANT OPTION or another schema's rights turns an application bug into a database compromise.",
         remediation="REVOKE the privileges reported (or add them to the account's allow-list in "
         "security.access_control.datastores.mariadb with the reason).",
         tags=("asvs:4.1.3", "asvs:1.4.3", "dev-sec:mysql-db-06"),
         reads=("security.access_control.datastores.mariadb.{mariadb_account}", "security.access_control.datastores.service_forbidden"))
def test_sql_account_privileges(check: Check, mariadb: MariaDBFacts, profile: Profile, mariadb_account: str) -> None:
    ds = profile.security.access_control.datastores
    spec = ds.mariadb[mariadb_account]
    grants = check.fact(mariadb.grants)
    mine = {k: g for k, g in grants.items() if k.rsplit("@", 1)[0] == mariadb_account
            and (spec.host is None or k.rsplit("@", 1)[1] == spec.host)}
    bad: list[str] = []
    for account, g in sorted(mine.items()):
        for obj, privs in g.privileges.items():
            allowed = [p.upper() for p in spec.privileges.get(obj, [])]
            for p in privs:
                if not _covers(allowed, p):
                    bad.append(f"{p} ON {obj} ({account})")
                elif spec.kind == "service" and p in ds.service_forbidden:
                    bad.append(f"{p} ON {obj} ({account}: never for a service account)")
        bad += [f"role {r} ({account})" for r in g.roles if r not in spec.roles]
    check.none_of(bad, what=f"privileges of {mariadb_account} beyond its allow-list", among=len(mine),
                  noun="accounts of that name")


_NEUTRAL = ("reset", "sanitize-payload", "skip-sanitize-payload", "-")


@control("AC-015", title="Redis ACL user holds only its allow-listed rules", severity="high", section=ACCESS,
         rationale="Least privilege: each Redis user may run only its commands on its keys; the denials that "
         "make it so (-@dangerous, -@all) must be there.", remediation="Correct the user's line in the ACL "
         "file (ACL SETUSER, ACL SAVE) to the rules of security.access_control.datastores.redis.",
         tags=("asvs:4.1.3",),
         reads=("security.access_control.datastores.redis.{redis_acl_user}",))
def test_redis_acl_user(check: Check, redis_facts: RedisFacts, profile: Profile, redis_acl_user: str) -> None:
    spec = profile.security.access_control.datastores.redis[redis_acl_user]
    users = check.fact(redis_facts.acl_users)
    rules = users.get(redis_acl_user)
    found = [r.lower() for r in (rules or [])]
    allow = {r.lower() for r in spec.allow}
    bad = [f"grants {r}" for r in found if not r.startswith(_NEUTRAL) and r not in allow]
    bad += [f"lacks {r}" for r in spec.require if r.lower() not in found]
    check.none_of(bad, what=f"ACL rules of {redis_acl_user} beyond its allow-list",
                  among=1 if rules is not None else 0, noun=f"users named {redis_acl_user}")


@control("AC-016", title="No data-store account outside the profile's allow-list", severity="high", section=ACCESS,
         rationale="An account nobody planned has privileges nobody reviewed.",
         remediation="Drop the account, or add it to security.access_control.datastores with its privileges "
         "and the reason.", tags=("asvs:4.1.3",),
         reads=("security.access_control.datastores.{datastore}",))
def test_unlisted_accounts(check: Check, profile: Profile, datastore: str, request: Any) -> None:
    ds = profile.security.access_control.datastores
    if datastore == "mariadb":
        grants = check.fact(request.getfixturevalue("mariadb").grants)
        names = sorted(grants)
        bad = [a for a in names if a.rsplit("@", 1)[0] not in ds.mariadb
               or ds.mariadb[a.rsplit("@", 1)[0]].host not in (None, a.rsplit("@", 1)[1])]
    else:
        users = check.fact(request.getfixturevalue("redis_facts").acl_users)
        names = sorted(users)
        bad = [u for u in names if u not in ds.redis]
    check.none_of(bad, what=f"{datastore} accounts not in the allow-list", among=len(names), noun="accounts")
