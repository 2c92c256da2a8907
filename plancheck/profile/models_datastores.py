"""The profile's data stores: 3.1 MariaDB (its variables, hardening, encryption at rest, audit
plugin, accounts), its backup job and restore drill, and 3.2 Redis.

Split out of `plancheck.profile.models`, which re-exports every public name.
"""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from plancheck.profile.models_base import Cron, Days, Setting, Size, Strict, TimeZone


# --- 3.1 MariaDB, 3.2 Redis ---------------------------------------------------------------------
class MariaDBEncryption(Strict):
    key_management: str = "file_key_management"
    algorithm: str
    key_bits: int = 256
    variables: dict[str, Setting]


class MariaDB(Strict):
    container: str
    version: str
    variables: dict[str, Setting]
    hardening: dict[str, Setting]
    tls_versions: list[str]
    encryption: MariaDBEncryption
    audit_plugin: str = "server_audit"
    # event classes server_audit must log (server_audit_events): logins, schema changes, grants
    audit_events: list[str] = ["CONNECT", "QUERY_DDL", "QUERY_DCL"]
    x509_users: list[str]
    allowed_user_hosts: list[str] = ["localhost", "127.0.0.1", "::1", "%"]
    root_hosts: list[str] = ["localhost", "127.0.0.1", "::1"]
    # local superusers: root, and Debian's `mysql` (unix_socket, the datadir owner's maintenance account)
    admin_users: list[str] = ["root", "mysql"]


class RestoreDrill(Strict):
    """The restore drill's scratch container (never the live database): its limits."""
    memory: Size = 2 * 1024**3
    timeout_s: int = Field(default=1800, ge=60)
    max_rto: Optional[Days] = None  # a restore slower than this fails the drill (None: report only)


class Backup(Strict):
    tool: str
    container: str
    schedule: Cron
    timezone: TimeZone = "UTC"
    retention: Days
    incremental: bool
    max_age: Days = 26 / 24
    encryption: str = "AES-256"
    root: str = "/backups"  # where the backup container keeps the backups (its volume)
    config: str = "backup-config"  # target.config_files / live_files key of the job's settings
    crontab: str = "backup-crontab"  # target.config_files / live_files key of the crontab
    restore_drill: RestoreDrill = RestoreDrill()


class Redis(Strict):
    container: str
    version: str
    maxmemory: Size
    settings: dict[str, Setting]
    hardening: dict[str, Setting] = {}
    tls_required: bool = True
    protected_commands: list[str] = ["config", "flushall", "flushdb", "debug", "shutdown"]
    admin_users: list[str] = []  # users allowed to run the protected commands
