"""The profile's model of 4.2 접근 제어 (access control): RBAC, MFA and session management, held to
the identity provider's behaviour, plus least privilege for the data stores' accounts.

The plan says three words ("RBAC 기반 권한 관리, MFA 인증, 세션 관리"); everything else here (roles,
routes, identities, limits) is the deployment's and marked "not in the plan" in the profile. Nothing
here knows a provider's internals beyond `provider.kind` (the static reader of its configuration);
the live side speaks HTTP to a login form, so another provider fits by its URLs and field names.
"""
from __future__ import annotations

import re
from typing import Annotated, Literal, Optional

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from plancheck.units import UnitError, parse_duration


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _seconds(v: object) -> int:
    """'15m' -> 900, '12h' -> 43200 (a bare number is seconds here, unlike days elsewhere)."""
    if isinstance(v, int) and not isinstance(v, bool):
        if v < 0:
            raise ValueError(f"invalid duration {v!r}: must not be negative")
        return v
    try:
        return round(parse_duration(v) * 86400)  # type: ignore[arg-type]
    except UnitError as e:
        raise ValueError(str(e)) from None


Seconds = Annotated[int, BeforeValidator(_seconds)]
_ENV = re.compile(r"[A-Z_][A-Z0-9_]*")


class Identity(_Strict):
    """A test identity the audit logs in as. Secrets only by reference: an environment variable NAME
    or a file path, never a value."""
    user: str
    password_env: Optional[str] = None
    password_file: Optional[str] = None
    totp_secret_env: Optional[str] = None   # base32 TOTP seed (roles with mfa)
    totp_secret_file: Optional[str] = None

    @field_validator("password_env", "totp_secret_env")
    @classmethod
    def _name_only(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not _ENV.fullmatch(v):
            raise ValueError("must be an environment variable NAME (A-Z, 0-9, _), never a secret value")
        return v


class Role(_Strict):
    title: str = ""
    group: str  # the provider's group that carries the role (the static reader looks for it in rules)
    mfa: bool = False  # a second factor is required to get a session at all
    identities: list[Identity] = Field(min_length=1)  # the first one is used


class Route(_Strict):
    """One row of the RBAC matrix: who may use this route. Every role not in `allow` is denied;
    anonymous clients are allowed only on public routes."""
    endpoint: str  # target.endpoints key (the front that serves the route)
    path: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    public: bool = False
    allow: list[str] = []  # role names
    mfa: bool = False  # only roles that need a second factor may be allowed here (admin portal)
    why: str = ""

    @model_validator(mode="after")
    def _public_or_roles(self) -> "Route":
        if self.public and self.allow:
            raise ValueError("a public route needs no allow list (every role and anonymous may use it)")
        return self


class Probe(_Strict):
    """A path nobody planned (default deny) or a published route list to crawl."""
    endpoint: str
    path: str


class RouteList(_Strict):
    """A route list the application publishes (OpenAPI `paths`, or a JSON list of paths): every route
    in it must be a row of the matrix. Read as the first role in `read_as`."""
    endpoint: str
    path: str
    prefix: str = ""  # prepended to the listed paths (the gateway's mount point of the app)
    read_as: str  # role name


class LoginForm(_Strict):
    """How the provider's login is spoken: a form at `path` with these field names (hidden fields of
    the form are sent back as they came), a second-factor form with `totp_field`, a logout URL."""
    endpoint: str
    path: str = "/"
    user_field: str = "user"
    password_field: str = "password"
    totp_field: str = "code"
    logout_path: str = "/?logout=1"
    # other URLs of the same login page (the portal URL the provider redirects to when the audit
    # reaches it at another address): a redirect there is a redirect to the login page
    aliases: list[str] = []
    max_redirects: int = Field(default=5, ge=0, le=20)


class SessionPolicy(_Strict):
    cookie_name: str
    idle_timeout: Seconds
    absolute_timeout: Seconds
    secure: bool = True
    http_only: bool = True
    same_site: list[Literal["Strict", "Lax", "None"]] = ["Strict", "Lax"]
    persistent: bool = False  # False: a session cookie (no Expires/Max-Age)
    # live: wait out the idle and absolute limits and see the session refused. Only sensible on a
    # profile with short limits (minutes); otherwise the limits are read from the configuration.
    probe_expiry: bool = False
    expiry_margin_s: int = Field(default=30, ge=0, le=3600)


class Totp(_Strict):
    interval_s: int = Field(default=30, ge=1)
    digits: int = Field(default=6, ge=6, le=10)
    max_skew_steps: int = Field(default=1, ge=0, le=10)  # steps either side the provider may accept


class Provider(_Strict):
    kind: Literal["lemonldap-ng"] = "lemonldap-ng"
    config: str = "idp-config"  # target.config_files / live_files key of the provider's configuration
    # route endpoint -> the provider's virtual host whose access rules guard it
    vhosts: dict[str, str] = {}


class DbAccount(_Strict):
    """What one MariaDB account may hold: privileges per object as SHOW GRANTS names them ("*.*",
    "appdb.*", "mysql.global_priv", "PROXY ''@'%'"), and roles."""
    kind: Literal["service", "operator", "admin", "system"] = "service"
    host: Optional[str] = None  # None: every host of this user name
    privileges: dict[str, list[str]] = {}
    roles: list[str] = []
    why: str = ""


class RedisUser(_Strict):
    """What one Redis ACL user may hold: the permission rules it may carry (+cmd, +@cat, -@cat,
    ~pattern, &channel, ...) and those it must carry (the denials that make it least privilege)."""
    allow: list[str] = []
    require: list[str] = []
    why: str = ""


class DataStores(_Strict):
    # never held by a `service` account, whatever its allow-list says
    service_forbidden: list[str] = ["FILE", "PROCESS", "SUPER", "SHUTDOWN", "RELOAD", "CREATE USER",
                                    "GRANT OPTION", "ALL PRIVILEGES"]
    mariadb: dict[str, DbAccount] = {}
    redis: dict[str, RedisUser] = {}


class AccessControl(_Strict):
    plan: list[str] = ["RBAC", "MFA", "sessions"]  # the plan's words (4.2 접근 제어)
    skip_live: Optional[str] = None  # why the provider cannot be probed where the profile points
    provider: Optional[Provider] = None  # None: no identity provider planned (RBAC/MFA/session skipped)
    login: Optional[LoginForm] = None
    roles: dict[str, Role] = {}
    routes: dict[str, Route] = {}
    unknown_routes: dict[str, Probe] = {}
    route_lists: list[RouteList] = []
    session: Optional[SessionPolicy] = None
    totp: Totp = Totp()
    datastores: DataStores = DataStores()

    @model_validator(mode="after")
    def _consistent(self) -> "AccessControl":
        problems = []
        for name, r in self.routes.items():
            unknown = sorted(set(r.allow) - set(self.roles))
            if unknown:
                problems.append(f"routes.{name}.allow names roles that do not exist: {unknown}")
        for rl in self.route_lists:
            if rl.read_as not in self.roles:
                problems.append(f"route_lists: read_as {rl.read_as!r} is not a role")
        if self.provider is not None and (self.login is None or self.session is None):
            problems.append("a provider needs `login` and `session`")
        if problems:
            raise ValueError("; ".join(problems))
        return self
