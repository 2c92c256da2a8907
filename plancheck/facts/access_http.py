"""The HTTP side of the access-control facts: requests over TLS (platform CA, the audit's client
certificate, the endpoint's server name), never following a redirect blindly, cookies handled by
hand (a session cookie is sent to every front the profile names, whatever its Domain says), a login
form spoken by its field names, and every answer put in one of a few classes.

Three outcomes everywhere: the platform accepted, the platform refused (an HTTP answer that says so),
or this audit could not tell (no answer, a 5xx on a login step, a page without the expected form):
`ProbeError`, which the source turns into Unavailable(kind="unknown"), never into "refused".
"""
from __future__ import annotations

import html.parser
import ssl
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional
from urllib.parse import urljoin, urlsplit

import requests

from plancheck.facts import meter
from plancheck.facts.httpapi import _TlsAdapter


class ProbeError(Exception):
    """This audit could not tell (one line: the request and the cause)."""


# --- HTML forms -----------------------------------------------------------------------------------
@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)  # every named input with its value (hidden ones kept)
    names: set[str] = field(default_factory=set)


class _FormParser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._in: Optional[Form] = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "form":
            self._in = Form(action=a.get("action", ""), method=(a.get("method") or "get").upper())
            self.forms.append(self._in)
        elif tag in ("input", "textarea", "select", "button") and self._in is not None and a.get("name"):
            name = a["name"]
            self._in.names.add(name)
            if tag == "input" and a.get("type", "text").lower() in ("checkbox", "radio") and "checked" not in a:
                return
            if tag != "button":
                self._in.fields.setdefault(name, a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in = None


def forms(text: str) -> list[Form]:
    p = _FormParser()
    try:
        p.feed(text)
        p.close()
    except Exception:  # a page this parser cannot read has no usable form
        return []
    return p.forms


def form_with(text: str, *names: str) -> Optional[Form]:
    for f in forms(text):
        if all(n in f.names for n in names):
            return f
    return None


# --- cookies ----------------------------------------------------------------------------------------
@dataclass
class SetCookie:
    name: str
    value: str
    attrs: dict[str, str]  # lower-case attribute names; flags map to ""

    @property
    def clears(self) -> bool:
        """A Set-Cookie that removes the cookie rather than setting a session."""
        if self.value in ("", "0", "deleted"):
            return True
        if self.attrs.get("max-age", "1").strip().lstrip("-").isdigit() and int(self.attrs.get("max-age", "1")) <= 0:
            return True
        return False


def parse_set_cookie(header: str) -> Optional[SetCookie]:
    parts = [p.strip() for p in header.split(";")]
    if not parts or "=" not in parts[0]:
        return None
    name, _, value = parts[0].partition("=")
    attrs = {}
    for p in parts[1:]:
        if not p:
            continue
        k, _, v = p.partition("=")
        attrs[k.strip().lower()] = v.strip()
    return SetCookie(name.strip(), value.strip().strip('"'), attrs)


def set_cookies(resp: requests.Response) -> list[SetCookie]:
    raw = getattr(resp.raw, "headers", None)
    headers = raw.getlist("Set-Cookie") if raw is not None and hasattr(raw, "getlist") else \
        [v for k, v in resp.headers.items() if k.lower() == "set-cookie"]
    return [c for c in (parse_set_cookie(h) for h in headers) if c is not None]


# --- the client -------------------------------------------------------------------------------------
@dataclass
class Answer:
    url: str
    status: int
    location: str
    text: str
    cookies: list[SetCookie]


class Web:
    """One requests session per front (endpoint), each with its TLS context and server name."""

    def __init__(self, fronts: dict[str, tuple[str, Optional[str]]], ca: Optional[str],
                 cert: Optional[tuple[str, str]], timeout: float):
        self.timeout = timeout
        self.fronts: dict[str, tuple[str, requests.Session]] = {}
        self.requests = 0
        for name, (base, server_name) in fronts.items():
            s = meter.count_session(requests.Session())  # round trips and bytes of the access source
            s.trust_env = False
            if base.startswith("https://"):
                tls = ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
                tls.check_hostname = False  # matched against server_name by the adapter
                if cert:
                    tls.load_cert_chain(*cert)
                s.mount(base, _TlsAdapter(tls, server_name))
                s.verify = ca or True
            self.fronts[name] = (base.rstrip("/"), s)

    def base(self, front: str) -> str:
        return self.fronts[front][0]

    def _front_of(self, url: str) -> Optional[str]:
        for name, (base, _) in self.fronts.items():
            if origin(url) == origin(base):
                return name
        return None

    def send(self, method: str, url: str, cookies: dict[str, str] | None = None,
             data: dict[str, str] | None = None) -> Answer:
        front = self._front_of(url)
        if front is None:
            raise ProbeError(f"{method} {url}: not one of the profile's fronts (never followed)")
        session = self.fronts[front][1]
        session.cookies.clear()  # cookies are this client's to choose, per request
        # a browser's Accept: providers answer a client that asks for JSON as an API caller (401, no
        # login page, no Location), which is not the login flow the profile's routes describe
        headers = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                   "User-Agent": "plancheck-audit"}
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        self.requests += 1
        try:
            r = session.request(method, url, headers=headers, data=data, timeout=self.timeout,
                                allow_redirects=False)
        except requests.RequestException as e:
            raise ProbeError(f"{method} {url}: no answer: {type(e).__name__}: "
                             f"{str(e).splitlines()[0][:160] if str(e) else ''}") from None
        text = r.text if len(r.content) <= 1 << 20 else r.content[: 1 << 20].decode("utf-8", "replace")
        # an empty or missing Location stays empty: urljoin would turn it into this very URL (a loop)
        raw_location = r.headers.get("Location", "").strip()
        return Answer(url=url, status=r.status_code, location=urljoin(url, raw_location) if raw_location else "",
                      text=text, cookies=set_cookies(r))

    def close(self) -> None:
        for _, s in self.fronts.values():
            s.close()


def origin(url: str) -> tuple[str, str]:
    """(scheme, host[:port]) with the scheme's default port left out, so that
    https://h:443/ and https://h/ are one origin."""
    u = urlsplit(url)
    scheme = u.scheme.lower()
    host = (u.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = u.port
    except ValueError:
        port = None
    if port is None or (scheme, port) in (("https", 443), ("http", 80)):
        return scheme, host
    return scheme, f"{host}:{port}"


def base_url(scheme: str, host: str, port: int) -> str:
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    default = (scheme, port) in (("https", 443), ("http", 80))
    return f"{scheme}://{host}" + ("" if default else f":{port}")


# --- classifying an answer to a route ---------------------------------------------------------------
@dataclass
class Outcome:
    outcome: str  # allowed, denied, denied-redirect, not-found, server-error, redirect, redirect-loop
    evidence: str


def classify(web: Web, method: str, url: str, cookies: dict[str, str] | None,
             is_login: Callable[[str], bool], max_redirects: int,
             login_fields: Optional[tuple[str, str]] = None) -> Outcome:
    """What a route answers: a redirect to the login page is a denial; other redirects inside the
    same front are followed (GET) up to `max_redirects`, a repeated URL being a loop; a page reached
    through redirects that is a login form (`login_fields`) is a denial too, never "allowed"."""
    seen = [url]
    answer = web.send(method, url, cookies)
    while True:
        s = answer.status
        if 300 <= s < 400 and answer.location:
            loc = answer.location
            if is_login(loc):
                return Outcome("denied-redirect", f"HTTP {s} to the login page {_short(loc)}")
            if origin(loc) != origin(url) or web._front_of(loc) is None:
                return Outcome("redirect", f"HTTP {s} to {_short(loc)} (another site, not followed)")
            if loc in seen:
                return Outcome("redirect-loop", f"HTTP {s} back to {_short(loc)} after {len(seen) - 1} redirect(s)")
            if len(seen) > max_redirects:
                return Outcome("redirect-loop", f"more than {max_redirects} redirects ({_short(loc)})")
            seen.append(loc)
            answer = web.send("GET", loc, cookies)
            continue
        via = f" after {len(seen) - 1} redirect(s)" if len(seen) > 1 else ""
        if 200 <= s < 300:
            if via and login_fields and form_with(answer.text, *login_fields) is not None:
                return Outcome("denied-redirect", f"HTTP {s}{via}: a login form")
            return Outcome("allowed", f"HTTP {s}{via}")
        if s == 404:
            return Outcome("not-found", f"HTTP 404{via}")
        if 400 <= s < 500:
            return Outcome("denied", f"HTTP {s}{via}")
        if s >= 500:
            return Outcome("server-error", f"HTTP {s}{via}")
        return Outcome("redirect", f"HTTP {s} without a Location{via}")


def _short(url: str, n: int = 80) -> str:
    u = urlsplit(url)
    text = f"{u.path or '/'}{'?' + u.query if u.query else ''}"
    return text if len(text) <= n else text[: n - 3] + "..."


# --- logging in ---------------------------------------------------------------------------------
@dataclass
class Step:
    """One login step's result: `session` (the session cookie was issued), `second-factor` (a form
    asking for the code), or `refused` (an answer without either). `cookie` is the Set-Cookie seen."""
    result: str
    evidence: str
    cookie: Optional[SetCookie] = None
    page: str = ""
    url: str = ""
    jar: dict[str, str] = field(default_factory=dict)


@dataclass
class Flow:
    web: Web
    login_url: str
    cookie_name: str
    user_field: str
    password_field: str
    totp_field: str
    max_redirects: int = 5
    pre_login_ids: list[str] = field(default_factory=list)  # session ids the provider set before login

    def _walk(self, answer: Answer, jar: dict[str, str]) -> tuple[Answer, Optional[SetCookie]]:
        """Take the cookies of each answer and follow redirects inside the provider's site."""
        session: Optional[SetCookie] = None
        hops = 0
        while True:
            for c in answer.cookies:
                if c.clears:
                    jar.pop(c.name, None)
                else:
                    jar[c.name] = c.value
                if c.name == self.cookie_name and not c.clears:
                    session = c
            if 300 <= answer.status < 400 and answer.location and origin(answer.location) == origin(self.login_url):
                hops += 1
                if hops > self.max_redirects:
                    raise ProbeError(f"login at {self.login_url}: more than {self.max_redirects} redirects")
                answer = self.web.send("GET", answer.location, jar)
                continue
            return answer, session

    def start(self, planted: Optional[str] = None) -> tuple[Form, Answer, dict[str, str]]:
        jar: dict[str, str] = {self.cookie_name: planted} if planted else {}
        answer, pre = self._walk(self.web.send("GET", self.login_url, jar), jar)
        if pre is not None:
            self.pre_login_ids.append(pre.value)
        if answer.status >= 500:
            raise ProbeError(f"GET {self.login_url}: HTTP {answer.status}")
        form = form_with(answer.text, self.user_field, self.password_field)
        if form is None:
            raise ProbeError(f"GET {answer.url}: HTTP {answer.status}, no form with fields "
                             f"{self.user_field!r} and {self.password_field!r}")
        return form, answer, jar

    def _submit(self, form: Form, page: Answer, jar: dict[str, str], values: dict[str, str]) -> Step:
        action = urljoin(page.url, form.action) if form.action not in ("", "#") else page.url
        if origin(action) != origin(self.login_url):
            raise ProbeError(f"the form at {page.url} posts to another site ({origin(action)[1]}): not followed")
        data = {**form.fields, **values}
        answer = self.web.send(form.method if form.method in ("GET", "POST") else "POST", action, jar, data)
        answer, session = self._walk(answer, jar)
        if session is not None:
            return Step("session", f"HTTP {answer.status}, {self.cookie_name} issued", session, answer.text,
                        answer.url, dict(jar))
        if answer.status >= 500:
            raise ProbeError(f"POST {action}: HTTP {answer.status}")
        if form_with(answer.text, self.totp_field) is not None:
            return Step("second-factor", f"HTTP {answer.status}, a form asking for {self.totp_field!r}",
                        None, answer.text, answer.url, dict(jar))
        if 200 <= answer.status < 500:
            return Step("refused", f"HTTP {answer.status}, no {self.cookie_name} cookie", None, answer.text,
                        answer.url, dict(jar))
        raise ProbeError(f"POST {action}: unexpected HTTP {answer.status}")

    def password(self, user: str, password: str, planted: Optional[str] = None) -> Step:
        form, page, jar = self.start(planted)
        return self._submit(form, page, jar, {self.user_field: user, self.password_field: password})

    def second_factor(self, step: Step, code: str) -> Step:
        form = form_with(step.page, self.totp_field)
        if form is None:
            raise ProbeError(f"{step.url}: no form asking for {self.totp_field!r}")
        page = Answer(url=step.url, status=200, location="", text=step.page, cookies=[])
        return self._submit(form, page, dict(step.jar), {self.totp_field: code})


# --- TOTP -------------------------------------------------------------------------------------
class Codes:
    """Codes for one TOTP seed (RFC 6238 via pyotp): the current one, one long expired, one wrong."""

    def __init__(self, secret: str, interval: int, digits: int, skew: int, clock: Callable[[], float] = time.time):
        import pyotp

        self.totp = pyotp.TOTP(secret, digits=digits, interval=interval)
        self.interval, self.digits, self.skew, self.clock = interval, digits, skew, clock

    def step(self, at: Optional[float] = None) -> int:
        return int((self.clock() if at is None else at) // self.interval)

    def now(self) -> str:
        return self.totp.at(self.clock())

    def expired(self) -> str:
        return self.totp.at(self.clock() - (self.skew + 2) * self.interval)

    def wrong(self) -> str:
        t = self.clock()
        window = {self.totp.at(t + k * self.interval) for k in range(-self.skew - 2, self.skew + 3)}
        n = (int(self.now()) + 10 ** (self.digits - 1) // 2) % 10 ** self.digits
        while f"{n:0{self.digits}d}" in window:
            n = (n + 7919) % 10 ** self.digits
        return f"{n:0{self.digits}d}"

    def wait_for_fresh_step(self, need_s: float, sleep: Callable[[float], None] = time.sleep) -> None:
        """Sleep into the next step when fewer than `need_s` seconds are left in this one, so a code
        and its replay fall in the same step."""
        left = self.interval - (self.clock() % self.interval)
        if left < need_s:
            sleep(left + 0.2)


def redact(value: Any) -> str:
    """A cookie value as evidence: its length and first characters only."""
    text = str(value)
    return f"{text[:6]}... ({len(text)} chars)" if len(text) > 8 else "(short value)"
