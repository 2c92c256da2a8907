"""What this audit's own data-store accounts could change (issue 10.5): the MariaDB account and the Redis
ACL user it connects as (`target.endpoints.<store>.credential.user`), with the privileges the facts of
this run hold for them, and whether every one of them only reads.

Taken from facts already gathered in the run (the `mariadb` source's SHOW GRANTS of every account, the
`redis` source's ACL LIST rules with secrets dropped): nothing is read for it, and in static mode, or where
those sources were not gathered, there is nothing to show. Read-only is an allow-list: a privilege or a
rule not known to only read counts as one that could change something (a role, EXECUTE, LOCK TABLES,
`+@connection`, which holds CLIENT KILL). No password or hash is in these facts.
"""
from __future__ import annotations

from typing import Any, Optional

# MariaDB privileges that read or observe and change nothing (server status, replication status, catalog)
MARIADB_READ = {"USAGE", "SELECT", "SHOW DATABASES", "SHOW VIEW", "PROCESS", "BINLOG MONITOR", "SLAVE MONITOR",
                "REPLICA MONITOR", "REPLICATION CLIENT"}
# Redis rules that grant nothing beyond reading (key/channel patterns and denials grant no command)
REDIS_READ = {
    "+auth", "+hello", "+ping", "+echo", "+info", "+select", "+dbsize", "+lastsave", "+time", "+role", "+lolwut",
    "+config|get", "+acl|whoami", "+acl|list", "+acl|users", "+acl|getuser", "+acl|cat", "+acl|dryrun",
    "+command", "+command|count", "+command|docs", "+command|info", "+command|list", "+command|getkeys",
    "+client|info", "+client|list", "+client|getname", "+memory|stats", "+memory|doctor", "+memory|usage",
    "+slowlog|get", "+slowlog|len", "+latency|latest", "+latency|doctor", "+latency|history",
    "+latency|histogram", "+module|list", "+cluster|info", "+@read",
}


def _user(profile: Any, store: str) -> Optional[str]:
    endpoint = profile.target.endpoints.get(store)
    cred = endpoint.credential if endpoint is not None else None
    return cred.user if cred is not None and cred.user else None


def mariadb_accounts(grants: Any, user: str) -> list[dict[str, Any]]:
    """One entry per `user@host` of that user name in SHOW GRANTS facts (`{account: AccountGrants}`)."""
    out = []
    for account, g in sorted(grants.items()):
        if account.rsplit("@", 1)[0] != user:
            continue
        shown = [f"{p} ON {obj}" for obj, privs in g.privileges.items() for p in privs]
        shown += [f"role {r}" for r in g.roles]
        changes = [f"{p} ON {obj}" for obj, privs in g.privileges.items() for p in privs if p not in MARIADB_READ]
        changes += [f"role {r}" for r in g.roles]  # a role's privileges are its own grants: not shown here
        out.append({"store": "mariadb", "account": account, "grants": shown, "read_only": not changes,
                    "changes": changes, "note": ""})
    return out


def redis_accounts(acl_users: Any, user: str) -> list[dict[str, Any]]:
    """The ACL user's permission rules (redis_acl.permission_rules: no password, no hash)."""
    rules = acl_users.get(user)
    if rules is None:
        return []
    changes = [r for r in rules if r.lower() == "allcommands" or (r.startswith("+") and r.lower() not in REDIS_READ)]
    return [{"store": "redis", "account": user, "grants": list(rules), "read_only": not changes,
             "changes": changes, "note": ""}]


def audit_accounts(store: Any, profile: Any) -> list[dict[str, Any]]:
    """Entries for results.json `audit_accounts`, from the facts this run gathered (live mode only)."""
    from plancheck.facts.base import Unavailable

    if store is None or profile is None or store.ctx.mode != "live":
        return []
    out: list[dict[str, Any]] = []
    for name, field, build in (("mariadb", "grants", mariadb_accounts), ("redis", "acl_users", redis_accounts)):
        user = _user(profile, name)
        facts = store.gathered(name)
        if user is None or facts is None:
            continue
        value = getattr(facts, field, None)
        if isinstance(value, Unavailable):
            out.append({"store": name, "account": user, "grants": [], "read_only": None, "changes": [],
                        "note": f"not observed: {value.reason}"})
        elif value is not None:
            found = build(value, user)
            out += found or [{"store": name, "account": user, "grants": [], "read_only": None, "changes": [],
                              "note": "no such account in the facts of this run"}]
    return out


def merge_accounts(lists: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One entry per (store, account) from several processes (pytest-xdist workers each gather for
    themselves): an observed entry wins over a "not observed" one."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for entries in lists:
        for e in entries or []:
            key = (e["store"], e["account"])
            if key not in out or (out[key]["read_only"] is None and e["read_only"] is not None):
                out[key] = e
    return [out[k] for k in sorted(out)]
