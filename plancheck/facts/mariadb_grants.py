"""MariaDB account privileges from SHOW GRANTS, per object as the server names them.

`GRANT SELECT, PROCESS ON *.* TO ...` -> {"*.*": ["PROCESS", "SELECT"]}; `ON `appdb`.*` -> "appdb.*";
`ON `mysql`.`global_priv`` -> "mysql.global_priv"; `GRANT PROXY ON ''@'%'` -> "PROXY ''@'%'";
`WITH GRANT OPTION` adds "GRANT OPTION" to that object; `GRANT `role` TO ...` is a role grant. The
rest of the line (the account, IDENTIFIED BY PASSWORD '<hash>', REQUIRE, resource limits) is never
kept: a password hash must not reach the facts.
"""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

_GRANT = re.compile(
    r"^GRANT\s+(?P<privs>.+?)\s+ON\s+(?P<kind>(?:FUNCTION|PROCEDURE|PACKAGE BODY|PACKAGE)\s+)?"
    r"(?P<obj>(?:`(?:[^`]|``)*`|\*)(?:\.(?:`(?:[^`]|``)*`|\*))?|'[^']*'@'[^']*')\s+TO\s+(?P<rest>.*)$",
    re.S | re.I)
_ROLE = re.compile(r"^GRANT\s+(?P<role>`(?:[^`]|``)*`|\w+)\s+TO\s+", re.I)


class AccountGrants(BaseModel):
    privileges: dict[str, list[str]] = {}  # object -> privilege names (sorted, upper case)
    roles: list[str] = []


def _split_privs(text: str) -> list[str]:
    """'SELECT (a, b), INSERT' -> ['SELECT', 'INSERT'] (column lists dropped: the privilege counts)."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        if depth == 0 and ch not in "()":
            cur += ch
    out.append(cur)
    return [" ".join(p.split()).upper() for p in out if p.strip()]


def _unquote(obj: str) -> str:
    if obj.startswith("'"):
        return "PROXY " + obj
    parts = re.findall(r"`((?:[^`]|``)*)`|(\*)", obj)
    return ".".join((a.replace("``", "`") if a else b) for a, b in parts)


def parse_grants(lines: list[str]) -> AccountGrants:
    privileges: dict[str, set[str]] = {}
    roles: list[str] = []
    for line in lines:
        text = " ".join(str(line).split())
        m = _GRANT.match(text)
        if m:
            obj = _unquote(m.group("obj"))
            if m.group("kind"):
                obj = f"{m.group('kind').strip().upper()} {obj}"
            privs = set(_split_privs(m.group("privs")))
            if re.search(r"\bWITH\b.*\bGRANT OPTION\b", m.group("rest"), re.I):
                privs.add("GRANT OPTION")
            privileges.setdefault(obj, set()).update(privs)
            continue
        r = _ROLE.match(text)
        if r:
            roles.append(r.group("role").strip("`").replace("``", "`"))
    return AccountGrants(privileges={k: sorted(v) for k, v in sorted(privileges.items())}, roles=sorted(roles))


def read_grants(conn: Any, users: list[tuple[str, str]]) -> dict[str, AccountGrants]:
    """SHOW GRANTS for each account ("user@host" keys)."""
    out: dict[str, AccountGrants] = {}
    with conn.cursor() as cur:
        for user, host in users:
            cur.execute("SHOW GRANTS FOR %s@%s", (user, host))
            out[f"{user}@{host}"] = parse_grants([row[0] for row in cur.fetchall()])
    return out
