"""A small identity provider and application on loopback, over TLS (trustme), that behaves like the
baseline's LemonLDAP::NG behind its fronts: a login form with a hidden token, TOTP for admins as a
second form, a session cookie, per-route rules by group and authentication level, a redirect to the
login page for anonymous clients, logout, idle and absolute limits. Flags turn each protection off,
so the live reader's verdicts can be proven both ways without Docker.

Two servers share one state: the gateway (portal + API routes) and the admin portal."""
from __future__ import annotations

import html
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, quote, urlsplit

import pyotp

USERS = {"pc-admin": ("pw-admin", {"admins"}), "pc-user": ("pw-user", {"users"})}
BOTH = {"users", "admins"}
GATEWAY_RULES: dict[tuple[str, str], tuple[set[str], int]] = {
    ("GET", "/api/openapi.json"): (BOTH, 0),
    ("GET", "/api/v1/models"): (BOTH, 0),
    ("POST", "/api/v1/chat/completions"): (BOTH, 0),
    ("GET", "/api/admin/usage"): ({"admins"}, 5),
    ("GET", "/chat/rooms"): (BOTH, 0),
    ("GET", "/auth/whoami"): (BOTH, 0),
}
ADMIN_RULES = {("GET", "/"): ({"admins"}, 5)}
PUBLISHED = ["/api/openapi.json", "/api/v1/models", "/api/v1/chat/completions", "/api/admin/usage"]


@dataclass
class Flags:
    admin_mfa: bool = True  # admins must pass TOTP
    replay_protection: bool = True
    logout_invalidates: bool = True
    adopt_planted: bool = False  # keep a session id the client brought (fixation)
    secure_cookie: bool = True
    user_can_admin: bool = False  # the user group is let into /api/admin/usage
    error_route: Optional[str] = None  # this path answers 500
    loop_route: Optional[str] = None  # this path redirects to itself
    idle_s: Optional[float] = None
    absolute_s: Optional[float] = None
    published: list[str] = field(default_factory=lambda: list(PUBLISHED))


class FakePlatform:
    def __init__(self, server_ctx: ssl.SSLContext, totp_secret: str, flags: Flags,
                 clock: Callable[[], float] = time.time):
        self.flags, self.clock, self.secret = flags, clock, totp_secret
        self.sessions: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}  # form tokens -> pending login
        self.last_step: dict[str, int] = {}
        self.lock = threading.Lock()
        self.requests = 0
        self.servers = [self._server(server_ctx, "gateway"), self._server(server_ctx, "admin")]
        self.gateway_port = self.servers[0].server_address[1]
        self.admin_port = self.servers[1].server_address[1]

    @property
    def portal(self) -> str:
        return f"https://127.0.0.1:{self.gateway_port}/"

    # -- sessions -------------------------------------------------------------------------------
    def session(self, cookie_header: str) -> Optional[dict[str, Any]]:
        sid = _cookie(cookie_header, "lemonldap")
        s = self.sessions.get(sid or "")
        if s is None:
            return None
        now = self.clock()
        f = self.flags
        if (f.idle_s is not None and now - s["last"] > f.idle_s) or \
                (f.absolute_s is not None and now - s["created"] > f.absolute_s):
            self.sessions.pop(sid, None)  # type: ignore[arg-type]
            return None
        s["last"] = now
        return s

    def new_session(self, user: str, level: int, planted: Optional[str]) -> str:
        sid = planted if (self.flags.adopt_planted and planted) else secrets.token_hex(32)
        now = self.clock()
        self.sessions[sid] = {"user": user, "groups": USERS[user][1], "level": level, "created": now, "last": now}
        return sid

    def cookie(self, sid: str) -> str:
        return f"lemonldap={sid}; path=/; HttpOnly" + ("; secure" if self.flags.secure_cookie else "") + \
            "; SameSite=Strict"

    # -- the two servers -----------------------------------------------------------------------
    def _server(self, ctx: ssl.SSLContext, which: str) -> ThreadingHTTPServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, status: int, body: str = "", headers: Optional[dict[str, str]] = None,
                      cookies: tuple[str, ...] = ()) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                for c in cookies:
                    self.send_header("Set-Cookie", c)
                self.end_headers()
                self.wfile.write(data)

            def form(self) -> dict[str, str]:
                n = int(self.headers.get("Content-Length") or 0)
                return {k: v[0] for k, v in parse_qs(self.rfile.read(n).decode()).items()}

            def do_GET(self) -> None:  # noqa: N802
                self.route("GET")

            def do_POST(self) -> None:  # noqa: N802
                self.route("POST")

            def route(self, method: str) -> None:
                with fake.lock:
                    fake.requests += 1
                    u = urlsplit(self.path)
                    if which == "gateway":
                        fake.gateway(self, method, u.path, parse_qs(u.query))
                    else:
                        fake.admin(self, method, u.path)

        srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        return srv

    def protected(self, h: Any, method: str, path: str, rules: dict, prefix_ok: Callable[[str], bool]) -> None:
        f = self.flags
        if path == f.error_route:
            return h.reply(500, "boom")
        if path == f.loop_route:
            return h.reply(302, headers={"Location": path})
        s = self.session(h.headers.get("Cookie", ""))
        if s is None:
            here = f"https://{h.headers.get('Host')}{path}"
            return h.reply(302, headers={"Location": f"{self.portal}?url={quote(here, safe='')}"})
        groups, level = rules.get((method, path), (set(), 0))
        if f.user_can_admin and path == "/api/admin/usage":
            groups, level = BOTH, 0
        if not (s["groups"] & groups) or s["level"] < level or not prefix_ok(path):
            return h.reply(403, "forbidden")
        if path == "/api/openapi.json":
            import json

            return h.reply(200, json.dumps({"openapi": "3.0.3", "paths": {p: {} for p in f.published}}))
        return h.reply(200, f"ok {s['user']}")

    def gateway(self, h: Any, method: str, path: str, query: dict[str, list[str]]) -> None:
        if path == "/health":
            return h.reply(200, "ok")
        if path == "/":
            if method == "GET" and "logout" in query:
                sid = _cookie(h.headers.get("Cookie", ""), "lemonldap")
                if self.flags.logout_invalidates and sid:
                    self.sessions.pop(sid, None)
                return h.reply(200, "bye", cookies=("lemonldap=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT",))
            if method == "POST":
                return self.login(h)
            if self.session(h.headers.get("Cookie", "")) is not None:
                return h.reply(200, "menu")
            token = secrets.token_hex(8)
            self.tokens[token] = {"stage": "password"}
            return h.reply(200, _login_page(token))
        if path == "/totp2fcheck" and method == "POST":
            return self.totp(h)
        if path.startswith(("/api/", "/chat/", "/auth/")):
            return self.protected(h, method, path, GATEWAY_RULES, lambda p: True)
        return h.reply(404, "not found")

    def admin(self, h: Any, method: str, path: str) -> None:
        if path == "/healthz":
            return h.reply(200, "ok")
        return self.protected(h, method, path, ADMIN_RULES, lambda p: True)

    def login(self, h: Any) -> None:
        data = h.form()
        if self.tokens.pop(data.get("token", ""), None) is None:
            return h.reply(401, _login_page(self._token(), "form expired"))
        user, password = data.get("user", ""), data.get("password", "")
        if USERS.get(user, ("",))[0] != password or not password:
            return h.reply(401, _login_page(self._token(), "bad credentials"))
        planted = _cookie(h.headers.get("Cookie", ""), "lemonldap")
        if "admins" in USERS[user][1] and self.flags.admin_mfa:
            token = secrets.token_hex(8)
            self.tokens[token] = {"stage": "totp", "user": user, "planted": planted}
            return h.reply(200, _totp_page(token))
        sid = self.new_session(user, 2, planted)
        return h.reply(302, headers={"Location": self.portal}, cookies=(self.cookie(sid),))

    def totp(self, h: Any) -> None:
        data = h.form()
        pending = self.tokens.pop(data.get("token", ""), None)
        if not pending or pending.get("stage") != "totp":
            return h.reply(401, _login_page(self._token(), "no pending login"))
        user, code = pending["user"], data.get("code", "")
        now = self.clock()
        totp = pyotp.TOTP(self.secret)
        step = None
        for k in (-1, 0, 1):
            if totp.at(now + k * 30) == code:
                step = int((now + k * 30) // 30)
        if step is None or (self.flags.replay_protection and self.last_step.get(user, -1) >= step):
            return h.reply(401, _login_page(self._token(), "bad code"))
        self.last_step[user] = step
        sid = self.new_session(user, 5, pending.get("planted"))
        return h.reply(302, headers={"Location": self.portal}, cookies=(self.cookie(sid),))

    def _token(self) -> str:
        token = secrets.token_hex(8)
        self.tokens[token] = {"stage": "password"}
        return token

    def __enter__(self) -> "FakePlatform":
        for s in self.servers:
            threading.Thread(target=s.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        for s in self.servers:
            s.shutdown()
            s.server_close()


def _cookie(header: str, name: str) -> Optional[str]:
    for part in header.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return None


def _login_page(token: str, error: str = "") -> str:
    return (f"<html><body><p>{html.escape(error)}</p><form id='lform' action='#' method='post'>"
            f"<input type='hidden' name='url' value=''><input type='hidden' name='token' value='{token}'>"
            "<input name='user' type='text'><input name='password' type='password'>"
            "<input type='checkbox' name='stayconnected' value='1'><button type='submit'>Sign in</button>"
            "</form></body></html>")


def _totp_page(token: str) -> str:
    return (f"<html><body><form action='/totp2fcheck' method='post'><input type='hidden' name='token' "
            f"value='{token}'><input type='hidden' name='checkLogins' value=''><input name='code' value=''>"
            "</form></body></html>")
