"""3.1 MariaDB 설정 and the database side of 4. 보안 구성: version, the plan's tunables, TLS,
encryption at rest, audit, and account hygiene (dev-sec mysql-baseline)."""
from __future__ import annotations

from typing import Any

from plancheck.controls import control
from plancheck.evaluate import Check
from plancheck.facts.mariadb import MariaDBFacts
from plancheck.profile.models import Profile
from plancheck.units import format_size, normalize_setting

DB = "3.1 MariaDB 설정 (MariaDB)"
NETSEC = "4.1 네트워크 보안 (TLS between containers)"
DATASEC = "4.2 데이터 보안 (data at rest)"


def _var(facts: MariaDBFacts, name: str) -> Any:
    return facts.variables.get(name, "unset (server default)")


def _show(v: Any) -> str:
    return format_size(v) if isinstance(v, int) and v >= 1024**2 and v % 1024**2 == 0 else str(v)


@control("DB-001", title="MariaDB version is the planned one", severity="high", section=DB,
         rationale="The plan fixes the version; another one changes defaults and support dates.",
         remediation="Deploy the planned MariaDB version.", tags=("dev-sec:mysql-db-01",),
         reads=("mariadb.version",))
def test_version(check: Check, mariadb: MariaDBFacts, profile: Profile) -> None:
    found = check.fact(mariadb.version)  # static: the version the image tag names (compose project)
    want, have = profile.mariadb.version, found.split("-")[0]
    check.that(have == want or have.startswith(want + "."), expected=f"{want}.x", found=found,
               what=f"version ({mariadb.version_source})" if mariadb.version_source else "version")


@control("DB-002", title="MariaDB tunable equals the plan", severity="high", section=DB,
         rationale="The plan sizes the buffer pool, redo log, connections and thread cache for 256 GB.",
         remediation="Set the variable in the [mysqld] option file and restart MariaDB.",
         tags=("dev-sec:mysql-conf-01",),
         reads=("mariadb.variables.{mariadb_variable}",))
def test_tunable(check: Check, mariadb: MariaDBFacts, mariadb_variable: tuple[str, Any]) -> None:
    name, expected = mariadb_variable
    check.setting(_var(mariadb, name), expected, what=name, fmt=lambda v: _show(normalize_setting(v)))


@control("DB-003", title="MariaDB hardening variable as required", severity="high", section=NETSEC,
         rationale="TLS-only connections, no LOCAL INFILE, no symlinks, bounded file privileges, audit logging.",
         remediation="Set the variable in the [mysqld] option file and restart MariaDB.",
         tags=("dev-sec:mysql-conf-03", "dev-sec:mysql-conf-03b"),
         reads=("mariadb.hardening.{mariadb_hardening}",))
def test_hardening(check: Check, mariadb: MariaDBFacts, mariadb_hardening: tuple[str, Any]) -> None:
    name, expected = mariadb_hardening
    check.setting(_var(mariadb, name), expected, what=name)


@control("DB-004", title="MariaDB accepts only the planned TLS versions", severity="critical", section=NETSEC,
         rationale="The plan requires TLS 1.3 between containers.",
         remediation="Set tls_version=TLSv1.3 in the [mysqld] option file.",
         reads=("mariadb.tls_versions",))
def test_tls_versions(check: Check, mariadb: MariaDBFacts, profile: Profile) -> None:
    found = sorted(v.strip() for v in _var(mariadb, "tls_version").split(",") if v.strip())
    check.equal(found, sorted(profile.mariadb.tls_versions), what="tls_version")


@control("DB-005", title="The audit's own session negotiated TLS 1.3", severity="high", section=NETSEC,
         rationale="A real handshake proves what the server negotiates, not only what it is configured for.",
         remediation="Enable TLS 1.3 (tls_version) and provide ssl_cert/ssl_key.",
         reads=("mariadb.tls_versions",))
def test_session_tls(check: Check, mariadb: MariaDBFacts, profile: Profile) -> None:
    check.that(check.fact(mariadb.session_tls_version) in profile.mariadb.tls_versions,
               expected=f"one of {profile.mariadb.tls_versions}", found=mariadb.session_tls_version or "no TLS",
               what=f"session TLS (cipher {check.fact(mariadb.session_cipher) or 'none'})")


@control("DB-006", title="Data-at-rest encryption setting as planned", severity="critical", section=DATASEC,
         rationale="The plan stores data encrypted with AES-256: tables, redo log, temporary files and binlog.",
         remediation="Set the encryption variable in the [mysqld] option file and restart MariaDB.",
         reads=("mariadb.encryption.variables.{mariadb_encryption}",))
def test_encryption_setting(check: Check, mariadb: MariaDBFacts, mariadb_encryption: tuple[str, Any]) -> None:
    name, expected = mariadb_encryption
    check.setting(_var(mariadb, name), expected, what=name)


@control("DB-007", title="Encryption keys come from the planned key management, AES with 256-bit keys",
         severity="critical", section=DATASEC,
         rationale="file_key_management with AES (CTR/CBC) and 256-bit keys is the plan's AES-256.",
         remediation="Load file_key_management with a 256-bit key file and the planned algorithm.",
         reads=("mariadb.encryption",))
def test_key_management(check: Check, mariadb: MariaDBFacts, profile: Profile) -> None:
    enc = profile.mariadb.encryption
    plugins = check.fact(mariadb.plugins)
    status = plugins.get(enc.key_management, "not loaded")
    check.that(status in ("ACTIVE", "configured"), expected="ACTIVE", found=status, what=enc.key_management)
    check.setting(_var(mariadb, f"{enc.key_management}_encryption_algorithm"), enc.algorithm, what="algorithm")


@control("DB-008", title="Every InnoDB tablespace is encrypted", severity="critical", section=DATASEC,
         rationale="A single plaintext tablespace leaves its data readable on disk and in backups.",
         remediation="Set innodb_encrypt_tables=FORCE and let the encryption threads rotate existing tables.",
         reads=("mariadb.encryption",))
def test_tablespaces_encrypted(check: Check, mariadb: MariaDBFacts) -> None:
    spaces = check.fact(mariadb.tablespaces)
    check.none_of(sorted(t.name for t in spaces if not t.encrypted), what="unencrypted tablespaces",
                  among=len(spaces), noun="tablespaces")


@control("DB-009", title="The audit plugin is active", severity="high", section="4.2 데이터 보안 (security audit log)",
         rationale="The plan keeps security audit logs 5 years; MariaDB's server_audit writes them.",
         remediation="plugin_load_add=server_audit, server_audit=FORCE_PLUS_PERMANENT, server_audit_logging=ON.",
         reads=("mariadb.audit_plugin", "mariadb.audit_events"))
def test_audit_plugin(check: Check, mariadb: MariaDBFacts, profile: Profile) -> None:
    status = check.fact(mariadb.plugins).get(profile.mariadb.audit_plugin, "not loaded")
    check.that(status in ("ACTIVE", "configured"), expected="ACTIVE", found=status, what=profile.mariadb.audit_plugin)
    # an empty server_audit_events logs every event class
    events = {e.strip().upper() for e in _var(mariadb, "server_audit_events").split(",") if e.strip()}
    want = sorted(e.upper() for e in profile.mariadb.audit_events)
    check.that(not events or set(want) <= events, expected=f"at least {','.join(want)}",
               found=",".join(sorted(events)) or "all (empty)", what="server_audit_events")
    if not check.observed(mariadb.audit_log):
        return  # static mode: the option file is the desired state's whole evidence
    log = mariadb.audit_log
    st = log.status  # type: ignore[union-attr]
    check.equal(st.get("server_audit_active", "not reported").upper(), "ON", what="Server_audit_active")
    check.equal(st.get("server_audit_writes_failed", "not reported"), "0", what="Server_audit_writes_failed")
    if log.file_mtime is not None and (not events or "CONNECT" in events):  # type: ignore[union-attr]
        # the audit's own login is a CONNECT event: the file must have been written since it began
        lag = log.session_started - log.file_mtime  # type: ignore[union-attr]
        check.that(lag <= 1.0, expected="written during this audit (its own CONNECT)",
                   found=f"last written {max(lag, 0):.0f}s before the audit's session "
                         f"({log.file_bytes} bytes)" if lag > 1.0 else f"written {max(-lag, 0):.1f}s after the "
                         f"audit's login ({log.file_bytes} bytes)", what=f"audit log {log.file}")  # type: ignore[union-attr]


@control("DB-010", title="No anonymous accounts", severity="critical", section=DATASEC,
         rationale="An account with an empty user name lets anyone in.", remediation="DROP USER ''@'host'.",
         tags=("dev-sec:mysql-db-04",),
         reads=("+dev-sec",))
def test_no_anonymous(check: Check, mariadb: MariaDBFacts) -> None:
    accounts = check.fact(mariadb.users)
    check.none_of([f"''@{u.host}" for u in accounts if u.user == ""], what="anonymous accounts",
                  among=len(accounts), noun="accounts")


@control("DB-011", title="No test database", severity="medium", section=DATASEC,
         rationale="The test database is writable by default accounts.", remediation="DROP DATABASE test.",
         tags=("dev-sec:mysql-db-03",),
         reads=("+dev-sec",))
def test_no_test_database(check: Check, mariadb: MariaDBFacts) -> None:
    dbs = check.fact(mariadb.databases)
    check.none_of([d for d in dbs if d.lower() == "test"], what="test database", among=len(dbs), noun="databases")


@control("DB-012", title="Superusers only from localhost", severity="critical", section=DATASEC,
         rationale="A remote root account turns a leaked password into full control.",
         remediation="DROP USER 'root'@'%' (and any other non-local host).", tags=("dev-sec:mysql-db-08",),
         reads=("mariadb.root_hosts",))
def test_root_local(check: Check, mariadb: MariaDBFacts, profile: Profile) -> None:
    accounts = check.fact(mariadb.users)
    check.none_of([f"{u.user}@{u.host}" for u in accounts if u.user in
                   profile.mariadb.admin_users and u.host not in profile.mariadb.root_hosts],
                  what="superuser accounts from non-local hosts", among=len(accounts), noun="accounts")


@control("DB-013", title="No account hosts beyond those the profile allows", severity="high", section=DATASEC,
         rationale="Wildcard host patterns accept connections from anywhere the network reaches.",
         remediation="Restrict accounts to the allowed hosts.", tags=("dev-sec:mysql-db-07",),
         reads=("mariadb.allowed_user_hosts",))
def test_account_hosts(check: Check, mariadb: MariaDBFacts, profile: Profile) -> None:
    accounts = check.fact(mariadb.users)
    bad = [f"{u.user}@{u.host}" for u in accounts if not u.is_role and u.host not in profile.mariadb.allowed_user_hosts]
    check.none_of(bad, what="accounts with hosts outside the allowed list", among=len(accounts), noun="accounts")


@control("DB-014", title="No account without a password or certificate", severity="critical", section=DATASEC,
         rationale="An empty password with password authentication is an open door.",
         remediation="Set a password, use unix_socket for local admin, or REQUIRE X509.",
         tags=("dev-sec:mysql-db-05",),
         reads=("+dev-sec",))
def test_no_empty_passwords(check: Check, mariadb: MariaDBFacts) -> None:
    accounts = check.fact(mariadb.users)
    bad = [f"{u.user}@{u.host}" for u in accounts
           if u.empty_password and not u.is_role and not u.locked and u.ssl_type.upper() not in ("X509", "SPECIFIED")]
    check.none_of(bad, what="accounts with an empty password", among=len(accounts), noun="accounts")


@control("DB-015", title="Service account requires a client certificate (REQUIRE X509)", severity="critical",
         section="4.1 네트워크 보안 (mTLS)", rationale="The plan's service mesh is mutual TLS: services prove "
         "who they are with certificates.", remediation="ALTER USER 'name'@'%' REQUIRE X509.",
         reads=("mariadb.x509_users.{x509_user}",))
def test_x509_user(check: Check, mariadb: MariaDBFacts, x509_user: str) -> None:
    accounts = [u for u in check.fact(mariadb.users) if u.user == x509_user]
    found = sorted({u.ssl_type or "NONE" for u in accounts}) or ["account missing"]
    check.that(bool(accounts) and all(u.ssl_type.upper() in ("X509", "SPECIFIED") for u in accounts),
               expected="X509", found=found, what=x509_user)


@control("DB-016", title="GRANT OPTION and SUPER only for the local superusers", severity="high", section=DATASEC,
         rationale="Accounts that can grant spread privileges beyond the plan's RBAC.",
         remediation="REVOKE GRANT OPTION / SUPER from service accounts.", tags=("dev-sec:mysql-db-06",),
         reads=("mariadb.admin_users",))
def test_grant_option(check: Check, mariadb: MariaDBFacts, profile: Profile) -> None:
    accounts = check.fact(mariadb.users)
    bad = [f"{u.user}@{u.host}" for u in accounts
           if (u.grant_option or u.super_priv) and not u.is_role and not u.locked
           and u.user not in profile.mariadb.admin_users]
    check.none_of(bad, what="accounts with GRANT OPTION or SUPER", among=len(accounts), noun="accounts")


@control("DB-017", title="MariaDB option files hold only options the server knows", severity="medium", section=DB,
         rationale="A misspelt option (innodb_bufer_pool_size) is a planned value that silently never applies; "
         "the server refuses to start on it, or ignores it with loose-.",
         remediation="Correct the option name at the file and line reported (mariadbd --help --verbose lists them).",
         reads=("+wellformed",))
def test_known_options(check: Check, mariadb: MariaDBFacts) -> None:
    check.none_of(check.fact(mariadb.unknown_options), what=f"unknown options in {mariadb.source}",
                  expected_text="every option known to MariaDB")
