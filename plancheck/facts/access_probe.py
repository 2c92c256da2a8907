"""The live reader of the access-control facts: logs in as each role, asks every route, and fills an
AccessFacts (plancheck/facts/access.py). Only HTTP here: the fronts come from the profile's endpoints,
secrets from the environment variables or files the profile names."""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Union
from urllib.parse import urlsplit

from plancheck.facts.access_http import (Codes, Flow, ProbeError, SetCookie, Web, base_url, classify, origin,
                                         redact)
from plancheck.facts import meter
from plancheck.facts.base import Context, FactError, Unavailable
from plancheck.facts.endpoints import endpoint, resolve_host, tls_files
from plancheck.profile.access import AccessControl, Identity

if TYPE_CHECKING:
    from plancheck.facts.access import AccessFacts, Obs

DENIALS = ("denied", "denied-redirect", "not-found")


def identity_secret(ctx: Context, ident: Identity, what: str) -> str:
    env, path = (ident.password_env, ident.password_file) if what == "password" else \
        (ident.totp_secret_env, ident.totp_secret_file)
    if env and ctx.env.get(env) is not None:
        return ctx.env[env].strip()
    if path:
        p = ctx.path(path)
        try:
            return p.read_text().strip()
        except OSError:
            raise FactError(f"{what} of {ident.user} not readable: {p}") from None
    if env:
        raise FactError(f"environment variable {env} ({what} of {ident.user}) is not set")
    raise FactError(f"the profile names no {what} for {ident.user}")


# the probe's clock and sleep (TOTP codes, expiry waits); tests replace them with a simulated clock
CLOCK: Callable[[], float] = time.time
SLEEP: Callable[[float], None] = time.sleep


def _steps_file() -> Path:
    base = os.environ.get("PLANCHECK_STATE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "plancheck")
    return Path(base) / "totp-steps.json"


class UsedSteps:
    """The last TOTP time step this machine's audits logged in with, per identity and portal: a
    provider that makes codes single-use (RFC 6238 5.2) rightly refuses the code of a step an earlier
    run already used, so a run that follows another within the step waits for the next one instead
    of replaying. Kept on the auditing machine, never on the platform; unreadable state is no state."""

    def __init__(self, portal: str, path: Optional[Path] = None):
        self.portal, self.path = portal, path or _steps_file()

    def _key(self, user: str) -> str:
        return hashlib.sha256(f"{self.portal}\0{user}".encode()).hexdigest()[:32]

    def _load(self) -> dict[str, int]:
        try:
            data = json.loads(self.path.read_text())
            return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}
        except (OSError, ValueError, TypeError):
            return {}

    def last(self, user: str) -> int:
        return self._load().get(self._key(user), -1)

    def record(self, user: str, step: int) -> None:
        data = self._load()
        data[self._key(user)] = max(step, data.get(self._key(user), -1))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            tmp.write_text(json.dumps(data))
            tmp.replace(self.path)
        except OSError:
            pass


class LiveProbe:
    def __init__(self, ctx: Context, ac: AccessControl, *, clock: Optional[Callable[[], float]] = None,
                 sleep: Optional[Callable[[float], None]] = None):
        assert ac.login is not None and ac.session is not None
        self.ctx, self.ac = ctx, ac
        self.clock = clock or CLOCK
        sleeper = sleep or SLEEP
        # every wait is the source's deliberate one (results.json sources: waited_s)
        self.sleep: Callable[[float], None] = lambda seconds: meter.sleep(seconds, sleeper)
        names = {ac.login.endpoint} | {r.endpoint for r in ac.routes.values()} | \
            {p.endpoint for p in ac.unknown_routes.values()} | {rl.endpoint for rl in ac.route_lists}
        fronts: dict[str, tuple[str, Optional[str]]] = {}
        self.broken: dict[str, str] = {}
        for name in sorted(names):
            try:
                ep = endpoint(ctx, name)
                fronts[name] = (base_url(ep.scheme or "https", resolve_host(ctx, ep), ep.port), ep.server_name)
            except FactError as e:
                self.broken[name] = str(e)
        if ac.login.endpoint in self.broken:
            raise FactError(f"access: the login front: {self.broken[ac.login.endpoint]}")
        ca, cert, key = tls_files(ctx)
        self.web = Web(fronts, ca, (cert, key), ctx.timeout)
        self.login_url = self.web.base(ac.login.endpoint) + ac.login.path
        self.cookie_name = ac.session.cookie_name
        self.flow = Flow(self.web, self.login_url, self.cookie_name, ac.login.user_field,
                         ac.login.password_field, ac.login.totp_field, ac.login.max_redirects)
        # only on the real clock: a simulated one (tests) has steps of its own
        self.used = UsedSteps(self.login_url) if self.clock is time.time else None

    def _after_used_step(self, user: str, codes: Codes) -> None:
        """Sleep past the last step an earlier run of this machine used for `user` (at most the
        provider's window: a record from further ahead is a clock change, ignored)."""
        if self.used is None:
            return
        last = self.used.last(user)
        if last - codes.step() > 2 * (self.ac.totp.max_skew_steps + 1):
            return
        while codes.step() <= last:
            self.sleep(max(0.2, codes.interval - self.clock() % codes.interval + 0.2))

    def close(self) -> None:
        self.web.close()

    # -- helpers ---------------------------------------------------------------------------------
    def is_login(self, url: str) -> bool:
        """Whether `url` is the login page: its origin and path (the exact path when it is "/", else
        any path under it), at the address the audit uses or one of the profile's aliases."""
        u = urlsplit(url)
        for login_url in [self.login_url, *self.ac.login.aliases]:  # type: ignore[union-attr]
            login = urlsplit(login_url)
            if origin(url) != origin(login_url):
                continue
            base = login.path or "/"
            if ((u.path or "/") == base) if base == "/" else (u.path or "/").startswith(base):
                return True
        return False

    def ask(self, front: str, path: str, method: str, cookies: Optional[dict[str, str]]) -> Any:
        from plancheck.facts.access import Obs

        if front in self.broken:
            return Unavailable(kind="unknown", reason=self.broken[front])
        url = self.web.base(front) + path
        try:
            login = self.ac.login
            assert login is not None
            o = classify(self.web, method, url, cookies, self.is_login, login.max_redirects,
                         (login.user_field, login.password_field))
        except ProbeError as e:
            return Unavailable(kind="unknown", reason=str(e))
        return Obs(outcome=o.outcome, evidence=f"{method} {path}: {o.evidence}")

    def _session(self, c: SetCookie) -> dict[str, str]:
        return {self.cookie_name: c.value}

    # -- logging in ------------------------------------------------------------------------------
    def login(self, role: str, facts: "AccessFacts", planted: Optional[str] = None,
              fresh_code: bool = False) -> Union[SetCookie, Unavailable]:
        """A session for `role`. For an MFA role the first login also tries a wrong, an expired and a
        replayed code (facts.mfa); `fresh_code` logs in again later with a code of a new step."""
        from plancheck.facts.access import Obs

        spec = self.ac.roles[role]
        ident = spec.identities[0]
        try:
            password = identity_secret(self.ctx, ident, "password")
            seed = identity_secret(self.ctx, ident, "totp") if spec.mfa else ""
        except FactError as e:
            return Unavailable(kind="unknown", reason=str(e))
        try:
            first = self.flow.password(ident.user, password, planted)
            if first.result == "refused":
                return Unavailable(kind="unknown", reason=f"the provider refused the password of {ident.user} "
                                   f"({role}): {first.evidence}; check the identity's credentials")
            if not spec.mfa:
                if first.result == "second-factor":
                    return Unavailable(kind="unknown", reason=f"{ident.user} ({role}) was asked for a second "
                                       "factor the profile does not plan for this role (roles.{role}.mfa)")
                return first.cookie  # type: ignore[return-value]
            t = self.ac.totp
            codes = Codes(seed, t.interval_s, t.digits, t.max_skew_steps, self.clock)
            if fresh_code:
                step0 = codes.step()
                while codes.step() == step0:
                    self.sleep(max(0.2, t.interval_s - self.clock() % t.interval_s + 0.2))
                self._after_used_step(ident.user, codes)
                if first.result != "second-factor":
                    return first.cookie or Unavailable(kind="unknown", reason=f"{ident.user}: {first.evidence}")
                if self.used is not None:
                    self.used.record(ident.user, codes.step())
                done = self.flow.second_factor(first, codes.now())
                return done.cookie if done.result == "session" else Unavailable(
                    kind="unknown", reason=f"{ident.user} ({role}) refused with a fresh code: {done.evidence}")
            mfa = facts.mfa[role]
            mfa.password_only = Obs(outcome=first.result, evidence=f"{ident.user}: {first.evidence}")
            if first.result == "session":
                why = Unavailable(kind="unknown", reason=f"{ident.user} got a session with the password alone: "
                                                         "no second factor to try codes on")
                mfa.valid_code = mfa.wrong_code = mfa.expired_code = mfa.replayed_code = why
                return first.cookie  # type: ignore[return-value]
            self._after_used_step(ident.user, codes)
            # the valid code and its replay (a second apart) must both fall in the provider's window:
            # with a skew of a step or more either step of a boundary will do; with none, the same step
            codes.wait_for_fresh_step(min(12.0, t.interval_s / 2) if t.max_skew_steps < 1 else 1.0, self.sleep)
            mfa.wrong_code = self._code_try(ident, password, codes.wrong(), "a wrong code", first)
            mfa.expired_code = self._code_try(ident, password, codes.expired(),
                                              f"a code {t.max_skew_steps + 2} steps old", None)
            code, step = codes.now(), codes.step()
            if self.used is not None:  # recorded before use: a code sent is spent, whatever the answer
                self.used.record(ident.user, step)
            valid = self._code_try(ident, password, code, "the current code", None, planted, keep=True)
            mfa.valid_code = valid[0]
            session = valid[1]
            replay = self._code_try(ident, password, code, "the code just used", None)
            if codes.step() - step > t.max_skew_steps:
                replay = Unavailable(kind="unknown", reason=f"the replay of {ident.user}'s code came "
                                     f"{codes.step() - step} steps later, past the provider's window: could not tell")
            mfa.replayed_code = replay
            return session if session is not None else Unavailable(
                kind="unknown", reason=f"{ident.user} ({role}) got no session with the current code: "
                f"{getattr(mfa.valid_code, 'evidence', getattr(mfa.valid_code, 'reason', ''))}")
        except ProbeError as e:
            return Unavailable(kind="unknown", reason=f"login as {ident.user} ({role}): {e}")

    def _code_try(self, ident: Identity, password: str, code: str, what: str, first: Any,
                  planted: Optional[str] = None, keep: bool = False) -> Any:
        """One password + code round: session, or refused (an answer without a session)."""
        from plancheck.facts.access import Obs

        try:
            step = first if first is not None else self.flow.password(ident.user, password, planted)
            if step.result != "second-factor":
                out: Any = Unavailable(kind="unknown", reason=f"{ident.user}: the password step gave "
                                       f"{step.result} ({step.evidence}), not the second-factor form")
                return (out, None) if keep else out
            done = self.flow.second_factor(step, code)
        except ProbeError as e:
            out = Unavailable(kind="unknown", reason=f"{ident.user} with {what}: {e}")
            return (out, None) if keep else out
        result = "session" if done.result == "session" else "refused"
        out = Obs(outcome=result, evidence=f"{ident.user} with {what}: {done.evidence}")
        return (out, done.cookie) if keep else out

    # -- the whole run -------------------------------------------------------------------------
    def run(self, facts: "AccessFacts") -> None:
        from plancheck.facts.access import CookieObs, Obs

        ac = self.ac
        sessions: dict[str, Union[SetCookie, Unavailable]] = {}
        planted = secrets.token_hex(32)
        for i, role in enumerate(ac.roles):
            got = self.login(role, facts, planted if i == 0 else None)
            sessions[role] = got
            if i == 0:
                if isinstance(got, Unavailable):
                    facts.fixation = facts.cookie = got
                else:
                    adopted = got.value == planted or got.value in self.flow.pre_login_ids
                    facts.fixation = Obs(
                        outcome="adopted" if adopted else "regenerated",
                        evidence=f"planted {self.cookie_name} {redact(planted)} before login; after login "
                                 f"{'the same id' if got.value == planted else redact(got.value)}"
                                 + (f"; {len(self.flow.pre_login_ids)} id(s) issued before login"
                                    if self.flow.pre_login_ids else ""))
                    a = got.attrs
                    facts.cookie = CookieObs(
                        name=got.name, secure="secure" in a, http_only="httponly" in a,
                        same_site=a.get("samesite", ""), persistent="expires" in a or "max-age" in a,
                        evidence="Set-Cookie attributes: " + (", ".join(
                            k if not v or k in ("samesite", "path") else f"{k}=..." for k, v in a.items()) or "none"))
        cookies = {r: (None if isinstance(s, Unavailable) else self._session(s)) for r, s in sessions.items()}
        for name, route in ac.routes.items():
            facts.anonymous[name] = self.ask(route.endpoint, route.path, route.method, None)
            if route.public:
                continue
            for role in ac.roles:
                s = sessions[role]
                facts.cells[f"{role}|{name}"] = s if isinstance(s, Unavailable) else \
                    self.ask(route.endpoint, route.path, route.method, cookies[role])
        for name, p in ac.unknown_routes.items():
            facts.unknown_routes[f"{name}|anonymous"] = self.ask(p.endpoint, p.path, "GET", None)
            for role in ac.roles:
                s = sessions[role]
                facts.unknown_routes[f"{name}|{role}"] = s if isinstance(s, Unavailable) else \
                    self.ask(p.endpoint, p.path, "GET", cookies[role])
        for rl in ac.route_lists:
            facts.published_routes[rl.path] = self.route_list(rl.endpoint, rl.path, rl.prefix,
                                                              sessions.get(rl.read_as))
        if ac.session is not None and ac.session.probe_expiry:
            self.expiry(facts)
        facts.logout = self.logout(sessions)

    def route_list(self, front: str, path: str, prefix: str, session: Any) -> Any:
        if isinstance(session, Unavailable) or session is None:
            return session or Unavailable(kind="unknown", reason="no session to read the route list with")
        if front in self.broken:
            return Unavailable(kind="unknown", reason=self.broken[front])
        url = self.web.base(front) + path
        try:
            a = self.web.send("GET", url, self._session(session))
        except ProbeError as e:
            return Unavailable(kind="unknown", reason=str(e))
        if a.status != 200:
            return Unavailable(kind="unknown", reason=f"GET {path} answered HTTP {a.status}")
        try:
            doc = json.loads(a.text)
        except ValueError:
            return Unavailable(kind="unknown", reason=f"GET {path} did not answer JSON")
        paths = doc.get("paths", {}) if isinstance(doc, dict) else doc
        if not isinstance(paths, (dict, list)):
            return Unavailable(kind="unknown", reason=f"GET {path}: neither OpenAPI paths nor a list")
        return sorted(prefix + str(p) for p in paths)

    def _check_route(self, role: str) -> Optional[tuple[str, str, str]]:
        for r in self.ac.routes.values():
            if not r.public and role in r.allow and r.method == "GET" and r.endpoint not in self.broken:
                return r.endpoint, r.path, r.method
        return None

    def _pick(self, sessions: dict[str, Any]) -> Optional[str]:
        ok = [r for r, s in sessions.items() if not isinstance(s, Unavailable) and self._check_route(r)]
        plain = [r for r in ok if not self.ac.roles[r].mfa]
        return (plain or ok or [None])[0]

    def logout(self, sessions: dict[str, Any]) -> Any:
        from plancheck.facts.access import Obs

        role = self._pick(sessions)
        if role is None:
            return Unavailable(kind="unknown", reason="no role has both a session and a planned GET route "
                                                      "to confirm it with: logout could not be tried")
        front, path, method = self._check_route(role)  # type: ignore[misc]
        cookie = self._session(sessions[role])
        before = self.ask(front, path, method, cookie)
        if isinstance(before, Unavailable) or before.outcome != "allowed":
            return Unavailable(kind="unknown", reason=f"the {role} session was not accepted on {path} before "
                               f"logout ({getattr(before, 'evidence', getattr(before, 'reason', ''))})")
        url = self.web.base(self.ac.login.endpoint) + self.ac.login.logout_path  # type: ignore[union-attr]
        try:
            out = self.web.send("GET", url, cookie)
        except ProbeError as e:
            return Unavailable(kind="unknown", reason=f"logout: {e}")
        if out.status >= 500:
            return Unavailable(kind="unknown", reason=f"logout at {self.ac.login.logout_path} answered HTTP {out.status}")  # type: ignore[union-attr]
        after = self.ask(front, path, method, cookie)
        if isinstance(after, Unavailable):
            return after
        if after.outcome in DENIALS:
            return Obs(outcome="invalidated", evidence=f"{role}: logout HTTP {out.status}; the old cookie "
                                                        f"then: {after.evidence}")
        if after.outcome == "allowed":
            return Obs(outcome="still-valid", evidence=f"{role}: logout HTTP {out.status}; the old cookie "
                                                        f"still: {after.evidence}")
        return Unavailable(kind="unknown", reason=f"after logout: {after.evidence}")

    def expiry(self, facts: "AccessFacts") -> None:
        """Wait out the idle limit without activity, and the absolute one with activity."""
        from plancheck.facts.access import Obs

        s = self.ac.session
        assert s is not None
        plain = [r for r in self.ac.roles if self._check_route(r)]
        role = next((r for r in plain if not self.ac.roles[r].mfa), plain[0] if plain else None)
        if role is None:
            facts.idle.observed = facts.absolute.observed = Unavailable(
                kind="unknown", reason="no role with a planned GET route to confirm a session with")
            return
        front, path, method = self._check_route(role)  # type: ignore[misc]
        for which, limit in (("idle", s.idle_timeout), ("absolute", s.absolute_timeout)):
            got = self.login(role, facts, fresh_code=self.ac.roles[role].mfa)
            if isinstance(got, Unavailable):
                setattr(getattr(facts, which), "observed", got)
                continue
            cookie = self._session(got)
            start = self.clock()
            end = start + limit + s.expiry_margin_s
            last: Any = None
            while True:
                now = self.clock()
                if now >= end:
                    break
                pause = end - now if which == "idle" else min(end - now, max(1.0, s.idle_timeout / 2))
                self.sleep(pause)
                last = self.ask(front, path, method, cookie)
                if isinstance(last, Unavailable) or last.outcome != "allowed":
                    break
            elapsed = int(self.clock() - start)
            if isinstance(last, Unavailable):
                obs: Any = last
            elif last is None:
                obs = Unavailable(kind="unknown", reason="no request made")
            elif last.outcome in DENIALS and which == "absolute" and elapsed < limit:
                # refused before the absolute limit although the session was active: something else
                # (the idle limit not refreshed by activity, a restart) ended it; the absolute limit
                # itself was never reached, so it could not be observed
                obs = Unavailable(kind="unknown", reason=f"{role}: the session active every "
                                  f"{max(1, s.idle_timeout // 2)}s was refused {elapsed}s after login, before the "
                                  f"absolute limit ({int(limit)}s): {last.evidence}; does the provider refresh "
                                  "activity often enough (LemonLDAP::NG: timeoutActivityInterval < timeoutActivity)?")
            elif last.outcome in DENIALS:
                obs = Obs(outcome="expired", evidence=f"{role}: refused {elapsed}s after login "
                          f"({'idle' if which == 'idle' else 'active every ' + str(max(1, s.idle_timeout // 2)) + 's'}): "
                          f"{last.evidence}")
            elif last.outcome == "allowed":
                obs = Obs(outcome="still-valid", evidence=f"{role}: accepted {elapsed}s after login: {last.evidence}")
            else:
                obs = Unavailable(kind="unknown", reason=f"{role} after {elapsed}s: {last.evidence}")
            setattr(getattr(facts, which), "observed", obs)
