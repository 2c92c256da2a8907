"""MariaDB facts: option files (static) or the running server over TLS with a client certificate
(live: SHOW GLOBAL VARIABLES once, users, plugins, tablespace encryption, the session's TLS)."""
from __future__ import annotations

import base64
import datetime as dt
import json
import re
import time
from typing import Any, Optional, Union

from pydantic import BaseModel

from plancheck.facts import meter
from plancheck.facts.base import Context, FactError, Facts, FactSource, NoSource, Unavailable, register
from plancheck.facts.endpoints import endpoint, resolve_host, secret, tls_files
from plancheck.facts.mariadb_grants import AccountGrants, read_grants
from plancheck.facts.optionfile import ConfigSyntaxError, parse_mariadb_options

LIVE_ONLY = "no static source: only the running server knows"


class DbUser(BaseModel):
    user: str
    host: str
    ssl_type: str  # '', 'ANY', 'X509', 'SPECIFIED'
    empty_password: bool
    plugin: str = ""
    is_role: bool = False
    grant_option: bool = False
    super_priv: bool = False
    locked: bool = False


class Tablespace(BaseModel):
    name: str
    encrypted: bool


class AuditLogFacts(BaseModel):
    """server_audit's own account of itself, and its log file as the Docker engine stats it."""
    status: dict[str, str]  # SHOW GLOBAL STATUS LIKE 'server_audit%' (active, current_log, writes_failed)
    file: str
    file_bytes: Optional[int] = None
    file_mtime: Optional[float] = None
    session_started: float  # when the audit's own session began: its CONNECT is an audited event


class MariaDBFacts(Facts):
    version: Union[str, Unavailable]
    version_source: str = ""  # static: the image whose tag names the version; live: SELECT VERSION()
    variables: dict[str, str]
    plugins: Union[dict[str, str], Unavailable]  # name -> ACTIVE/INACTIVE/configured
    users: Union[list[DbUser], Unavailable]
    databases: Union[list[str], Unavailable]
    tablespaces: Union[list[Tablespace], Unavailable]
    session_tls_version: Union[str, Unavailable]
    session_cipher: Union[str, Unavailable]
    audit_log: Union[AuditLogFacts, Unavailable] = Unavailable(reason="no static source: only the running "
                                                               "server writes its audit log")
    # "user@host" -> privileges per object, from SHOW GRANTS (4.2 least privilege, AC-014)
    grants: Union[dict[str, AccountGrants], Unavailable] = Unavailable(reason=LIVE_ONLY)
    # static: option-file lines naming an option mariadbd does not know, one line each
    # ("my.cnf:12: unknown option 'innodb_bufer_pool_size'"); see optionfile.parse_mariadb_options
    unknown_options: Union[list[str], Unavailable] = Unavailable(
        reason="option files are read in static mode only (a running server refused unknown options)", kind="absent")


def _static_plugins(variables: dict[str, str]) -> dict[str, str]:
    out = {}
    for entry in (variables.get("plugin_load_add", "") + ";" + variables.get("plugin_load", "")).split(";"):
        if entry.strip():
            name = entry.split("=")[0].strip().removesuffix(".so")
            out[name] = "configured"
    for key in variables:
        if key in ("file_key_management", "server_audit") and variables[key].upper() in ("ON", "FORCE_PLUS_PERMANENT", "FORCE"):
            out[key] = "configured"
    return out


@register
class MariaDBSource(FactSource):
    name = "mariadb"
    model = MariaDBFacts

    def static(self, ctx: Context) -> MariaDBFacts:
        files = ctx.profile.target.config_files.get("mariadb")
        if not files:
            raise NoSource("mariadb: the profile's target names no option files")
        variables: dict[str, str] = {}
        unknown: list[str] = []
        for f in files:
            path = ctx.path(f)
            try:
                variables.update(parse_mariadb_options(ctx.read_text(f), str(path), path.parent, unknown=unknown))
            except ConfigSyntaxError as e:
                raise FactError(str(e)) from None
        u = Unavailable(reason=LIVE_ONLY)
        from plancheck.facts.containers import image_version

        version, version_source = image_version(ctx, ctx.profile.mariadb.container)
        return MariaDBFacts(source=", ".join(files), version=version, version_source=version_source,
                            variables=variables,
                            plugins=_static_plugins(variables), users=u, databases=u, tablespaces=u,
                            session_tls_version=Unavailable(reason="no static source: needs a real TLS session"),
                            session_cipher=Unavailable(reason="no static source: needs a real TLS session"),
                            unknown_options=unknown)

    def live(self, ctx: Context) -> MariaDBFacts:
        import pymysql

        ep = endpoint(ctx, "mariadb")
        host = resolve_host(ctx, ep)
        ca, cert, key = tls_files(ctx)
        user = ep.credential.user if ep.credential and ep.credential.user else "plancheck_audit"
        where = f"mariadb at {host}:{ep.port} as {user}"
        started = time.time()
        try:
            conn = pymysql.connect(host=host, port=ep.port, user=user, password=secret(ctx, ep) or "",
                                   ssl={"ca": ca, "cert": cert, "key": key, "check_hostname": False},
                                   connect_timeout=ctx.timeout, read_timeout=ctx.timeout * 4,
                                   write_timeout=ctx.timeout)
        except pymysql.err.OperationalError as e:
            code, msg = (e.args + ("",))[:2]
            raise FactError(f"cannot reach {where}: ({code}) {msg}") from None
        except Exception as e:
            raise FactError(f"cannot reach {where}: {type(e).__name__}: {e}".splitlines()[0]) from None
        meter.count_pymysql(conn)  # the connect, then every query and the bytes read
        try:
            facts = self._read(conn, where)
            audit_status = {str(k).lower(): str(v) for k, v in _rows(conn, "SHOW GLOBAL STATUS LIKE 'server_audit%'")}
            facts.grants = _grants(conn, facts.users)
        except pymysql.err.MySQLError as e:
            raise FactError(f"{where}: query failed: {e}".splitlines()[0]) from None
        finally:
            conn.close()
        facts.audit_log = _audit_log(ctx, facts.variables, audit_status, started)
        return facts

    @staticmethod
    def _read(conn: Any, where: str) -> MariaDBFacts:
        def rows(sql: str) -> list[tuple]:
            return _rows(conn, sql)

        version = rows("SELECT VERSION()")[0][0]
        variables = {str(k).lower(): str(v) for k, v in rows("SHOW GLOBAL VARIABLES")}
        status = {str(k).lower(): str(v) for k, v in rows("SHOW SESSION STATUS LIKE 'Ssl_%'")}
        plugins = {str(n).lower(): str(s) for n, s in rows(
            "SELECT PLUGIN_NAME, PLUGIN_STATUS FROM information_schema.PLUGINS")}
        users = [DbUser(user=u, host=h, ssl_type=str(s or ""), empty_password=bool(e), plugin=str(p or ""),
                        is_role=str(r) == "Y", grant_option=str(g) == "Y", super_priv=str(sp) == "Y",
                        locked=str(lk).lower() in ("true", "1", "y"))
                 for u, h, s, e, p, r, g, sp, lk in rows(
                     "SELECT u.User, u.Host, u.ssl_type, (u.authentication_string = '' AND u.plugin IN "
                     "('', 'mysql_native_password')), u.plugin, u.is_role, u.Grant_priv, u.Super_priv, "
                     "IFNULL(JSON_VALUE(g.Priv, '$.account_locked'), 'false') FROM mysql.user u "
                     "LEFT JOIN mysql.global_priv g ON g.User = u.User AND g.Host = u.Host")]
        databases = [d for (d,) in rows("SHOW DATABASES")]
        # innodb_temporary is rebuilt at every start and encrypted per innodb_encrypt_temporary_tables
        # (checked by DB-006); INNODB_TABLESPACES_ENCRYPTION does not list it.
        spaces = rows("SELECT s.NAME, COALESCE(e.ENCRYPTION_SCHEME, 0) > 0 FROM "
                      "information_schema.INNODB_SYS_TABLESPACES s LEFT JOIN "
                      "information_schema.INNODB_TABLESPACES_ENCRYPTION e ON e.SPACE = s.SPACE "
                      "WHERE s.NAME <> 'innodb_temporary'")
        enc_system = rows("SELECT NAME, ENCRYPTION_SCHEME > 0 FROM information_schema.INNODB_TABLESPACES_ENCRYPTION "
                          "WHERE SPACE = 0")
        tablespaces = [Tablespace(name=n, encrypted=bool(e)) for n, e in list(spaces) + list(enc_system)]
        return MariaDBFacts(source=where, version=version, variables=variables, plugins=plugins, users=users,
                            databases=databases, tablespaces=tablespaces,
                            session_tls_version=status.get("ssl_version", ""),
                            session_cipher=status.get("ssl_cipher", ""))


def _grants(conn: Any, users: Any) -> Union[dict[str, AccountGrants], Unavailable]:
    """SHOW GRANTS per account; one the audit user may not read is "could not tell", not "none"."""
    import pymysql

    if isinstance(users, Unavailable):
        return users
    try:
        return read_grants(conn, [(u.user, u.host) for u in users if not u.is_role])
    except pymysql.err.MySQLError as e:
        return Unavailable(kind="unknown", reason=f"SHOW GRANTS failed: {e}".splitlines()[0])


def _rows(conn: Any, sql: str) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def _audit_log(ctx: Context, variables: dict[str, str], status: dict[str, str],
               started: float) -> Union[AuditLogFacts, Unavailable]:
    """The audit log file's size and time as the Docker engine stats it (HEAD on the archive API: no
    exec, no read of the content). A log sent to syslog has no file here; that is said, not guessed."""
    from plancheck.facts.containers import docker_client, find_service

    if variables.get("server_audit_output_type", "file").lower() != "file":
        return AuditLogFacts(status=status, file=f"syslog ({variables.get('server_audit_output_type')})",
                             session_started=started)
    path = variables.get("server_audit_file_path") or "server_audit.log"
    if not path.startswith("/"):
        path = variables.get("datadir", "/var/lib/mysql/").rstrip("/") + "/" + path
    try:
        client = docker_client(ctx)
        try:
            cid = find_service(client, ctx, ctx.profile.mariadb.container)["Id"]
            res = client.api.head(client.api._url("/containers/{0}/archive", cid), params={"path": path},
                                  timeout=ctx.timeout)
            if res.status_code != 200:
                return Unavailable(kind="unknown", reason=f"cannot stat the audit log {path}: HTTP {res.status_code}")
            stat = json.loads(base64.b64decode(res.headers.get("X-Docker-Container-Path-Stat", "")))
        finally:
            client.close()
    except FactError as e:
        return Unavailable(kind="unknown", reason=f"cannot stat the audit log {path}: {e}")
    except Exception as e:  # docker errors, timeouts, a garbled header: one line
        return Unavailable(kind="unknown", reason=f"cannot stat the audit log {path}: {type(e).__name__}: "
                           f"{str(e).splitlines()[0][:160] if str(e) else ''}")
    mtime = _rfc3339(str(stat["mtime"])) if stat.get("mtime") else None
    return AuditLogFacts(status=status, file=path, file_bytes=int(stat.get("size", 0)), file_mtime=mtime,
                         session_started=started)


def _rfc3339(text: str) -> float:
    """Docker's times carry nanoseconds ("...T10:59:54.994778160Z"); Python reads microseconds."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.strip()).replace("Z", "+00:00")
    return dt.datetime.fromisoformat(text).timestamp()
