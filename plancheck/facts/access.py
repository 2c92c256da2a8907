"""Access-control facts (4.2 접근 제어: RBAC, MFA, sessions), observed by behaviour.

live: the audit logs in as each role's test identity at the provider's login form (TLS with the
platform CA), with the TOTP code of the moment for roles that need a second factor (and a wrong, an
expired and a replayed code, each of which must be refused), then asks every route of the profile's
matrix as every role and as an anonymous client, records the session cookie's attributes, whether a
session id planted before login is adopted, whether logging out ends the session on the server, and,
on a profile with short limits, whether the idle and absolute limits end it. The provider's
configuration is read from the running container (`target.live_files`).

static: the provider's configuration file (LemonLDAP::NG lmConf JSON): limits, cookie flags, the
second-factor rule and the per-URL rules evaluated for each role's group.

Every observation is an `Obs` (outcome + evidence) or Unavailable: "mode" where only a running
provider can tell, "absent" where the profile says the provider cannot run there, "unknown" where a
probe got no usable answer.
"""
from __future__ import annotations

from typing import Optional, Union

from pydantic import BaseModel

from plancheck.facts import access_lmconf as lm
from plancheck.facts.access_probe import LiveProbe
from plancheck.facts.base import Context, FactError, Facts, FactSource, NoSource, Unavailable, register
from plancheck.profile.access import AccessControl

LIVE_ONLY = "no static source: only a request to the running platform can tell"


class Obs(BaseModel):
    outcome: str
    evidence: str = ""


Maybe = Union[Obs, Unavailable]


class MfaObs(BaseModel):
    password_only: Maybe  # second-factor | session | refused
    valid_code: Maybe  # session | refused
    wrong_code: Maybe
    expired_code: Maybe
    replayed_code: Maybe


class CookieObs(BaseModel):
    name: str
    secure: bool
    http_only: bool
    same_site: str  # "" when the cookie does not say (browsers then default to Lax)
    persistent: bool  # Expires or Max-Age set
    evidence: str = ""


class Limit(BaseModel):
    configured_s: Union[int, Unavailable]  # 0: no limit configured
    observed: Maybe  # expired | still-valid (live, profile with probe_expiry only)


class AccessFacts(Facts):
    provider: str  # the provider's kind and the configuration read ("lemonldap-ng: lmConf-1.json")
    cells: dict[str, Maybe] = {}  # "role|route" -> allowed | denied | denied-redirect | not-found | ...
    anonymous: dict[str, Maybe] = {}  # route -> the same
    unknown_routes: dict[str, Maybe] = {}  # "probe|role" (role or "anonymous")
    published_routes: dict[str, Union[list[str], Unavailable]] = {}  # route list path -> routes it names
    mfa: dict[str, MfaObs] = {}  # role (the profile's MFA roles) -> what each login step got
    mfa_groups: Union[list[str], Unavailable]  # groups the provider's second-factor rule requires it for
    mfa_routes: dict[str, Maybe] = {}  # route -> second-factor-required | not-required (its vhost's level)
    cookie: Union[CookieObs, Unavailable]
    fixation: Maybe  # regenerated | adopted
    logout: Maybe  # invalidated | still-valid
    idle: Limit
    absolute: Limit


def _conf(ctx: Context, ac: AccessControl, live: bool) -> Union[lm.LmConf, Unavailable]:
    """The provider's configuration: the desired-state file, or the running container's copy."""
    assert ac.provider is not None
    key = ac.provider.config
    if live:
        lf = ctx.profile.target.live_files.get(key)
        if lf is None:
            return Unavailable(kind="unknown", reason=f"target.live_files names no '{key}': the running "
                               "provider's configuration cannot be read")
        from plancheck.facts.containers import read_container_file

        try:
            return lm.parse(read_container_file(ctx, lf.service, lf.path), f"{lf.service}:{lf.path}")
        except FactError as e:
            return Unavailable(kind="unknown", reason=f"cannot read {lf.service}:{lf.path}: {e}")
        except ValueError as e:
            return Unavailable(kind="unknown", reason=str(e))
    files = ctx.profile.target.config_files.get(key)
    if not files:
        raise NoSource(f"access: the profile's target names no '{key}' configuration file")
    try:
        return lm.parse(ctx.read_text(files[0]), str(ctx.path(files[0])))
    except ValueError as e:
        raise FactError(str(e)) from None


def _decide(conf: lm.LmConf, ac: AccessControl, route: str, role: Optional[str]) -> Maybe:
    """What the provider's rules say for `role` (None: anonymous) on `route`, from its configuration."""
    r = ac.routes[route] if route in ac.routes else ac.unknown_routes[route]
    assert ac.provider is not None
    vhost = ac.provider.vhosts.get(r.endpoint)
    if vhost is None:
        return Unavailable(reason=f"provider.vhosts maps no virtual host to '{r.endpoint}': only a request "
                                  "can tell whether the front asks the provider")
    rule = lm.rule_for(conf, vhost, r.path)
    if rule is None:
        return Obs(outcome="allowed" if role is not None else "denied",
                   evidence=f"config: no rules for virtual host {vhost} (every session accepted)")
    groups = None if role is None else {ac.roles[role].group}
    level = 0
    if role is not None:
        level = (conf.totp_authn_level or 0) if ac.roles[role].mfa else (conf.first_factor_level or 0)
    need = lm.required_level(conf, vhost, rule)
    verdict = lm.decide(rule.rule, groups, level)
    if verdict is None:
        return Unavailable(reason=f"config: rule {rule.rule!r} of {vhost} {rule.pattern!r} is not decidable "
                                  "from the configuration; only the running handler can tell")
    if verdict and role is not None and need and level < need:
        verdict = False
    where = "default rule" if rule.pattern == "default" else f"rule {rule.pattern}"
    return Obs(outcome=("allowed" if verdict else "denied-redirect" if role is None else "denied"),
               evidence=f"config: {vhost} {where} = {rule.rule}" + (f", level {level} < {need}"
                                                                      if role and need and level < need else ""))


def _from_config(conf: Union[lm.LmConf, Unavailable], ac: AccessControl, facts: AccessFacts) -> None:
    """The facts a configuration decides: 2F groups, limits, cookie flags, per-route levels."""
    if isinstance(conf, Unavailable):
        facts.mfa_groups = conf
        facts.idle.configured_s = conf
        facts.absolute.configured_s = conf
        for name in facts.mfa_routes:
            facts.mfa_routes[name] = conf
        return
    rule = conf.totp_activation.strip()
    groups = sorted(lm.groups_named(rule)) if rule not in ("0", "") else []
    facts.mfa_groups = groups
    facts.idle.configured_s = conf.idle_timeout_s
    facts.absolute.configured_s = conf.timeout_s
    assert ac.provider is not None
    for name, route in ac.routes.items():
        if not route.mfa:
            continue
        vhost = ac.provider.vhosts.get(route.endpoint, "")
        rule_ = lm.rule_for(conf, vhost, route.path)
        need = lm.required_level(conf, vhost, rule_)
        second = conf.totp_authn_level is not None and need >= conf.totp_authn_level > (conf.first_factor_level or 0)
        facts.mfa_routes[name] = Obs(
            outcome="second-factor-required" if second else "not-required",
            evidence=f"config: {vhost} {route.path} needs authentication level {need or 'none'}; password "
                     f"gives {conf.first_factor_level}, TOTP {conf.totp_authn_level}")


@register
class AccessSource(FactSource):
    live_cost = 1  # logins, second factors and the RBAC matrix through the fronts
    name = "access"
    model = AccessFacts

    def static(self, ctx: Context) -> AccessFacts:
        ac = ctx.profile.security.access_control
        if ac.provider is None:
            raise NoSource("access: the profile plans no identity provider (security.access_control.provider)")
        conf = _conf(ctx, ac, live=False)
        assert isinstance(conf, lm.LmConf)
        facts = _empty(ac, Unavailable(reason=LIVE_ONLY), source=conf.file)
        facts.provider = f"{ac.provider.kind}: {conf.file}"
        _from_config(conf, ac, facts)
        for name, route in ac.routes.items():
            facts.anonymous[name] = _decide(conf, ac, name, None) if not route.public else \
                Unavailable(reason="a public route is public at the front (no provider rule): " + LIVE_ONLY)
            if not route.public:
                for role in ac.roles:
                    facts.cells[f"{role}|{name}"] = _decide(conf, ac, name, role)
        for name in ac.unknown_routes:
            facts.unknown_routes[f"{name}|anonymous"] = _decide(conf, ac, name, None)
            for role in ac.roles:
                facts.unknown_routes[f"{name}|{role}"] = _decide(conf, ac, name, role)
        for role, spec in ac.roles.items():
            if spec.mfa:
                asked = spec.group in (facts.mfa_groups if isinstance(facts.mfa_groups, list) else [])
                facts.mfa[role].password_only = Obs(
                    outcome="second-factor" if asked else "session",
                    evidence=f"config: totp2fActivation = {conf.totp_activation}")
        facts.cookie = CookieObs(
            name=conf.cookie_name, secure=conf.secured_cookie == 1,  # 2/3 add a second cookie for plain HTTP
            http_only=conf.http_only, same_site=conf.same_site or "Lax",
            persistent=conf.cookie_expiration_s > 0,
            evidence=f"config: securedCookie {conf.secured_cookie}, httpOnly {int(conf.http_only)}, "
                     f"sameSite {conf.same_site or '(default: Lax)'}, cookieExpiration "
                     f"{conf.cookie_expiration_s or 'unset'}")
        return facts

    def deadline_s(self, ctx: Context) -> float | None:
        ac = ctx.profile.security.access_control
        if ac.session is None or not ac.session.probe_expiry:
            return None
        s = ac.session
        return float(s.idle_timeout + s.absolute_timeout + 2 * s.expiry_margin_s + 120)

    def live(self, ctx: Context) -> AccessFacts:
        ac = ctx.profile.security.access_control
        if ac.provider is None:
            raise NoSource("access: the profile plans no identity provider (security.access_control.provider)")
        if ac.skip_live:
            facts = _empty(ac, Unavailable(kind="absent", reason=ac.skip_live), source="not probed")
            _from_config(Unavailable(kind="absent", reason=ac.skip_live), ac, facts)
            facts.provider = f"{ac.provider.kind}: not probed ({ac.skip_live})"
            return facts
        conf = _conf(ctx, ac, live=True)
        probe = LiveProbe(ctx, ac)
        try:
            facts = _empty(ac, Unavailable(kind="unknown", reason="not observed"), source=probe.login_url)
            facts.provider = f"{ac.provider.kind}: {getattr(conf, 'file', 'configuration not read')}"
            _from_config(conf, ac, facts)
            probe.run(facts)
        finally:
            probe.close()
        return facts


def _empty(ac: AccessControl, u: Unavailable, source: str) -> AccessFacts:
    facts = AccessFacts(
        source=source, provider="", mfa_groups=u, cookie=u, fixation=u, logout=u,
        idle=Limit(configured_s=u, observed=u), absolute=Limit(configured_s=u, observed=u),
        cells={f"{role}|{r}": u for r, spec in ac.routes.items() if not spec.public for role in ac.roles},
        anonymous={r: u for r in ac.routes},
        unknown_routes={f"{p}|{who}": u for p in ac.unknown_routes for who in ["anonymous", *ac.roles]},
        published_routes={rl.path: u for rl in ac.route_lists},
        mfa={role: MfaObs(password_only=u, valid_code=u, wrong_code=u, expired_code=u, replayed_code=u)
             for role, spec in ac.roles.items() if spec.mfa},
        mfa_routes={name: u for name, r in ac.routes.items() if r.mfa})
    if ac.session is not None and not ac.session.probe_expiry:
        why = Unavailable(kind="absent", reason="session.probe_expiry is off: the limits are read from the "
                                                "provider's configuration (a live wait needs a short-limit profile)")
        facts.idle.observed = why
        facts.absolute.observed = why
    return facts

