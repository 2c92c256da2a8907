"""LemonLDAP::NG's configuration (lmConf-N.json of the File backend) as access-control facts: session
limits, cookie flags, the second-factor rules, groups and the per-URL access rules of each virtual
host, with a small evaluator for the rule forms a static audit can decide (accept, deny, skip,
unprotect, inGroup(...) joined by and/or, $authenticationLevel comparisons).

Defaults are LemonLDAP::NG 2.16's (Lemonldap::NG::Common::Conf::DefaultValues) for a key the file
does not set. A rule outside the forms above is reported as not decidable from the configuration
(only the running handler can tell), never guessed.
"""
from __future__ import annotations

import json
import re
from typing import Any, Optional

from pydantic import BaseModel

# LemonLDAP::NG 2.16 defaults of the keys read here
DEFAULTS: dict[str, Any] = {
    "timeout": 72000, "timeoutActivity": 0, "timeoutActivityInterval": 60, "securedCookie": 0,
    "httpOnly": 1, "sameSite": "", "cookieExpiration": 0, "cookieName": "lemonldap",
    "totp2fActivation": 0, "totp2fRange": 1, "totp2fInterval": 30, "totp2fDigits": 6,
    "totp2fSelfRegistration": 0, "totp2fAuthnLevel": None, "sfRequired": 0, "handlerInternalCache": 15,
    "whatToTrace": "uid", "authentication": "Demo", "userDB": "Same", "pamAuthnLevel": 2,
}
SKIP_RULES = {"skip", "unprotect"}


class LmRule(BaseModel):
    pattern: str  # the Perl regular expression of the location ("default" for the vhost's default)
    rule: str

    @property
    def level(self) -> int:
        """The location's own authentication level, `(?#AuthnLevel=N)` in its pattern (0: none)."""
        m = re.search(r"\(\?#AuthnLevel=(-?\d+)\)", self.pattern)
        return int(m.group(1)) if m else 0


class LmConf(BaseModel):
    """What the configuration says, in the provider's own terms (seconds, flags, rule texts)."""
    file: str
    authentication: str
    user_db: str
    timeout_s: int  # absolute session lifetime
    idle_timeout_s: int  # timeoutActivity (0: no idle limit)
    cookie_name: str
    secured_cookie: int  # 0: no Secure flag; 1: Secure; 2/3: a second, plain-HTTP cookie besides
    http_only: bool
    same_site: str  # "" means LemonLDAP::NG's own choice (Lax, or None with SAML)
    cookie_expiration_s: int  # > 0: a persistent cookie (Max-Age)
    totp_activation: str  # the rule text ("0": off)
    sf_required: str
    totp_range: int
    totp_interval_s: int
    totp_self_registration: str
    totp_authn_level: Optional[int]
    first_factor_level: Optional[int]
    handler_internal_cache_s: int
    groups: dict[str, str]  # group -> rule
    vhosts: dict[str, list[LmRule]]  # vhost (and its aliases) -> location rules in order, default last
    vhost_authn_level: dict[str, int]


def _int(v: Any, default: int = 0) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def parse(text: str, origin: str) -> LmConf:
    try:
        raw = json.loads(text)
    except ValueError as e:
        raise ValueError(f"{origin}: not JSON: {e}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{origin}: expected a JSON object")

    def get(key: str) -> Any:
        v = raw.get(key)
        return DEFAULTS.get(key) if v is None or v == "" and DEFAULTS.get(key) not in ("", None) else v

    vhosts: dict[str, list[LmRule]] = {}
    for vhost, rules in (raw.get("locationRules") or {}).items():
        if not isinstance(rules, dict):
            continue
        ordered = [LmRule(pattern=p, rule=str(r)) for p, r in rules.items() if p != "default"]
        # the handler sorts the location keys as strings (Perl `sort keys`), then applies the first
        # match; a virtual host without a default accepts every session (Handler::Main::Reload)
        ordered.sort(key=lambda r: r.pattern)
        ordered.append(LmRule(pattern="default", rule=str(rules.get("default", "accept"))))
        vhosts[vhost] = ordered
    levels: dict[str, int] = {}
    for vhost, opts in (raw.get("vhostOptions") or {}).items():
        if not isinstance(opts, dict):
            continue
        if _int(opts.get("vhostAuthnLevel")):
            levels[vhost] = _int(opts.get("vhostAuthnLevel"))
        for alias in str(opts.get("vhostAliases") or "").split():
            if vhost in vhosts:
                vhosts.setdefault(alias, vhosts[vhost])
            if vhost in levels:
                levels.setdefault(alias, levels[vhost])
    auth = str(get("authentication"))
    first = raw.get(f"{auth.lower()}AuthnLevel", DEFAULTS.get(f"{auth.lower()}AuthnLevel"))
    level = raw.get("totp2fAuthnLevel")
    return LmConf(
        file=origin, authentication=auth, user_db=str(get("userDB")),
        timeout_s=_int(get("timeout"), 72000), idle_timeout_s=_int(get("timeoutActivity")),
        cookie_name=str(get("cookieName")), secured_cookie=_int(get("securedCookie")),
        http_only=bool(_int(get("httpOnly"), 1)), same_site=str(raw.get("sameSite") or ""),
        cookie_expiration_s=_int(raw.get("cookieExpiration")),
        totp_activation=str(get("totp2fActivation")), sf_required=str(get("sfRequired")),
        totp_range=_int(get("totp2fRange"), 1), totp_interval_s=_int(get("totp2fInterval"), 30),
        totp_self_registration=str(get("totp2fSelfRegistration")),
        totp_authn_level=_int(level) if level not in (None, "") else None,
        first_factor_level=_int(first) if first not in (None, "") else None,
        handler_internal_cache_s=_int(get("handlerInternalCache"), 15),
        groups={str(k): str(v) for k, v in (raw.get("groups") or {}).items()},
        vhosts=vhosts, vhost_authn_level=levels)


# --- rules ------------------------------------------------------------------------------------
_IN_GROUP = re.compile(r"""inGroup\(\s*["']([^"']+)["']\s*\)""")
_LEVEL = re.compile(r"""\$authenticationLevel\s*(>=|>|==)\s*(\d+)""")
_GROUPS_RE = re.compile(r"""\$groups\s*=~\s*/\\b\(\?:([\w|-]+)\)\\b/""")


def groups_named(rule: str) -> set[str]:
    """The groups a rule names (inGroup("x"), $groups =~ /\\b(?:a|b)\\b/)."""
    out = set(_IN_GROUP.findall(rule))
    for m in _GROUPS_RE.findall(rule):
        out |= set(m.split("|"))
    return out


def decide(rule: str, groups: set[str] | None, level: int) -> Optional[bool]:
    """Whether `rule` lets a session with `groups` at authentication `level` in; for an anonymous
    client (`groups` None) only skip/unprotect do. None: not a form this evaluator decides."""
    text = rule.strip()
    low = text.lower()
    if low in SKIP_RULES:
        return True
    if groups is None:
        return False  # every other rule needs a session: the handler sends the client to the portal
    if low == "accept":
        return True
    if low == "deny" or low.startswith("logout"):
        return False
    # an expression of inGroup(...) / $authenticationLevel terms joined by and/or (no parentheses
    # beyond the calls, no negation): evaluate it as Python booleans after substituting each term
    expr = _IN_GROUP.sub(lambda m: " True " if m.group(1) in groups else " False ", text)
    expr = _LEVEL.sub(lambda m: f" {_cmp(level, m.group(1), int(m.group(2)))} ", expr)
    expr = expr.replace("&&", " and ").replace("||", " or ")
    tokens = expr.split()
    if not tokens or any(t not in ("True", "False", "and", "or") for t in tokens):
        return None
    return bool(eval(" ".join(tokens), {"__builtins__": {}}, {}))  # noqa: S307 (only True/False/and/or)


def _cmp(level: int, op: str, value: int) -> bool:
    return level >= value if op == ">=" else level > value if op == ">" else level == value


def required_level(conf: LmConf, vhost: str, rule: Optional[LmRule]) -> int:
    """The authentication level a session needs there: the vhost's, the location's, or a
    `$authenticationLevel >= N` term of the rule, the highest."""
    levels = [conf.vhost_authn_level.get(vhost, 0), rule.level if rule else 0]
    if rule is not None:
        levels += [int(v) + (1 if op == ">" else 0) for op, v in _LEVEL.findall(rule.rule)]
    return max(levels)


def rule_for(conf: LmConf, vhost: str, path: str) -> Optional[LmRule]:
    """The first location rule of `vhost` whose pattern matches `path` (the default last); None when
    the configuration has no rules for that virtual host."""
    rules = conf.vhosts.get(vhost)
    if rules is None:
        return None
    for r in rules:
        if r.pattern == "default":
            return r
        try:
            if re.search(r.pattern, path):
                return r
        except re.error:
            return LmRule(pattern=r.pattern, rule="(a Perl pattern this audit cannot evaluate)")
    return None
