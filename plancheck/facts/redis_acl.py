"""Who may run a command under Redis ACL rules, for the commands the profile protects.

Live, Redis 7 answers itself (`ACL DRYRUN`); this evaluator serves the static side (`user` lines of
redis.conf or an ACL file) and Redis 6.2, which has no DRYRUN. It knows the categories of the
protected commands only (from the Redis command table), which is all the controls ask about.
"""
from __future__ import annotations

CATEGORIES: dict[str, set[str]] = {
    "config": {"admin", "slow", "dangerous"},
    "flushall": {"keyspace", "write", "slow", "dangerous"},
    "flushdb": {"keyspace", "write", "slow", "dangerous"},
    "debug": {"admin", "slow", "dangerous"},
    "shutdown": {"admin", "slow", "dangerous"},
    "keys": {"keyspace", "read", "slow", "dangerous"},
    "acl": {"admin", "slow", "dangerous"},
    "module": {"admin", "slow", "dangerous"},
    "save": {"admin", "slow", "dangerous"},
    "bgsave": {"admin", "slow", "dangerous"},
    "replicaof": {"admin", "slow", "dangerous"},
}


def parse_user(line: str) -> tuple[str, list[str]]:
    parts = line.split()
    return parts[0], parts[1:]


def user_enabled(rules: list[str]) -> bool:
    enabled = False
    for r in rules:
        if r == "on":
            enabled = True
        elif r in ("off", "reset"):
            enabled = False
    return enabled


def may_run(rules: list[str], command: str, subcommand: str | None = None) -> bool:
    """Whether rules allow `command` (or `command|subcommand`), the last matching rule winning."""
    command = command.lower()
    full = f"{command}|{subcommand.lower()}" if subcommand else None
    cats = CATEGORIES.get(command, set())
    allowed = False
    for r in rules:
        r = r.lower()
        if r in ("allcommands", "+@all"):
            allowed = True
        elif r in ("nocommands", "-@all", "reset"):
            allowed = False
        elif r.startswith(("+@", "-@")) and r[2:] in cats:
            allowed = r[0] == "+"
        elif r[1:] == command and r[0] in "+-":
            allowed = r[0] == "+"
        elif full and r[1:] == full and r[0] in "+-":
            allowed = r[0] == "+"
        elif full is None and r[0] == "+" and r[1:].startswith(command + "|"):
            # `+config|get` permits only that subcommand: the command as a whole (set) stays denied
            continue
    return allowed


def permission_rules(rules: list[str]) -> list[str]:
    """A user's ACL rules without its secrets and state: passwords and hashes (>pw, <pw, #hash, !hash,
    nopass, resetpass) and on/off are dropped; what it may run and touch (+cmd, -@cat, ~keys, %R~keys,
    &channels, allkeys, allchannels, allcommands, nocommands, reset*) is kept, in order."""
    out = []
    for r in rules:
        if r[:1] in (">", "<", "#", "!") or r.lower() in ("on", "off", "nopass", "resetpass"):
            continue
        out.append(r)
    return out
