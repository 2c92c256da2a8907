"""Parsers for server config files whose format no well-kept library reads as the server does:
MariaDB option files (groups, `!include`, `skip-`/`loose-` prefixes, last value wins) and
redis.conf (directives, repeated `save`, `rename-command`, `user` ACL lines).

Small on purpose and tested heavily (tests/unit/test_parsers.py, hypothesis round trips); every
malformed line raises ConfigSyntaxError naming the file and line, never a crash. A well-formed line
with a name the server does not know (a typo) is not a syntax error: given an `unknown` list, the
parsers append one line per such name to it ("my.cnf:12: unknown option 'innodb_bufer_pool_size'"),
checked against the lists in plancheck.facts.known_directives.
"""
from __future__ import annotations

import shlex
from pathlib import Path
from typing import Iterable, Optional

from plancheck.facts import meter
from plancheck.facts.known_directives import MARIADB_OPTIONS, REDIS_DIRECTIVES

MYSQLD_GROUPS = ("mysqld", "server", "mariadb", "mariadbd", "mysqld-10.6", "mariadb-10.6",
                 "mysqld-10.11", "mariadb-10.11")

# Options whose own name starts with skip_ (they are not "skip the X option").
_SKIP_NAMES = {"skip_name_resolve", "skip_networking", "skip_external_locking", "skip_show_database",
               "skip_grant_tables", "skip_slave_start", "skip_log_error", "skip_bdb"}
# Options that set a differently named server variable.
_OPTION_TO_VARIABLE = {"symbolic_links": ("have_symlink", {"ON": "YES", "OFF": "DISABLED"})}


class ConfigSyntaxError(ValueError):
    pass


def _norm_key(key: str) -> str:
    key = key.strip().lower().replace("-", "_")
    return key.removeprefix("loose_")


def _shown(name: str) -> str:
    text = "".join(c if c.isprintable() else "?" for c in name.strip())
    return repr(text if len(text) <= 60 else text[:57] + "...")


def known_mariadb_option(key: str) -> bool:
    """A server option name (normalized: `_`, no `loose_`), also behind skip-/disable-/enable-/maximum-."""
    if key in MARIADB_OPTIONS:
        return True
    prefix, _, rest = key.partition("_")
    return prefix in ("skip", "disable", "enable", "maximum") and rest in MARIADB_OPTIONS


def parse_mariadb_options(text: str, origin: str = "<text>", base_dir: Path | None = None,
                          groups: Iterable[str] = MYSQLD_GROUPS, _depth: int = 0,
                          unknown: Optional[list[str]] = None) -> dict[str, str]:
    """Server options from an option file, as mysqld would apply them (later lines win). Options of
    the server groups whose name mariadbd does not know go to `unknown` (when given), one line each."""
    wanted = {g.lower() for g in groups}
    out: dict[str, str] = {}
    group = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("!"):
            directive, _, arg = line.partition(" ")
            if directive not in ("!include", "!includedir") or not arg.strip():
                raise ConfigSyntaxError(f"{origin}:{n}: unknown directive {line!r}")
            if base_dir is not None and _depth < 5:
                target = Path(arg.strip())
                target = target if target.is_absolute() else base_dir / target
                files = sorted(target.glob("*.cnf")) if directive == "!includedir" else [target]
                for f in files:
                    if f.is_file():
                        text = f.read_text()
                        meter.count(1, len(text.encode("utf-8")))  # an included file, read by the current source
                        out.update(parse_mariadb_options(text, str(f), f.parent, groups, _depth + 1, unknown))
            continue
        if line.startswith("["):
            if not line.endswith("]") or len(line) < 3:
                raise ConfigSyntaxError(f"{origin}:{n}: malformed group header {line!r}")
            group = line[1:-1].strip().lower()
            continue
        if group is None:
            raise ConfigSyntaxError(f"{origin}:{n}: option {line!r} outside any [group]")
        if group not in wanted:
            continue
        key, sep, value = line.partition("=")
        written, key = key, _norm_key(key)
        if not key or not all(c.isalnum() or c in "_." for c in key):
            raise ConfigSyntaxError(f"{origin}:{n}: malformed option {line!r}")
        if unknown is not None and not known_mariadb_option(key):
            unknown.append(f"{origin}:{n}: unknown option {_shown(written)}")
        value = value.split(" #")[0].strip().strip('"').strip("'") if sep else "ON"
        if key.startswith("skip_") and key not in _SKIP_NAMES:
            key, value = key.removeprefix("skip_"), "OFF"
        if key.startswith(("disable_", "enable_")) and not sep:
            key, value = key.split("_", 1)[1], "ON" if key.startswith("enable_") else "OFF"
        if key in _OPTION_TO_VARIABLE:
            var, mapping = _OPTION_TO_VARIABLE[key]
            key, value = var, mapping.get(value.upper(), value)
        if key == "plugin_load_add" and key in out:
            value = out[key] + ";" + value
        out[key] = value
    return out


def parse_redis_conf(text: str, origin: str = "<text>", unknown: Optional[list[str]] = None,
                     ) -> tuple[dict[str, str], list[str], dict[str, str]]:
    """(directives, ACL `user` lines, renamed commands) of a redis.conf, as CONFIG GET reports them:
    repeated `save` lines joined, `save ""` clearing. Directives redis-server does not know go to
    `unknown` (when given), one line each."""
    conf: dict[str, str] = {}
    users: list[str] = []
    renamed: dict[str, str] = {}
    saves: list[str] | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            parts = shlex.split(line, comments=False, posix=True)
        except ValueError as e:
            raise ConfigSyntaxError(f"{origin}:{n}: {e}: {line!r}") from None
        key, args = parts[0].lower(), parts[1:]
        if not key.replace("-", "").isalnum():
            raise ConfigSyntaxError(f"{origin}:{n}: malformed directive {line!r}")
        if unknown is not None and key not in REDIS_DIRECTIVES:
            unknown.append(f"{origin}:{n}: unknown directive {_shown(parts[0])}")
        if key == "save":
            joined = " ".join(args)
            saves = [] if joined in ("", '""') else (saves or []) + [joined]
            continue
        if key == "user":
            users.append(" ".join(args))
            continue
        if key == "rename-command":
            if len(args) != 2:
                raise ConfigSyntaxError(f"{origin}:{n}: rename-command needs two arguments")
            renamed[args[0].lower()] = args[1]
            continue
        if not args:
            raise ConfigSyntaxError(f"{origin}:{n}: directive {key!r} has no value")
        conf[key] = " ".join(args)
    if saves is not None:
        conf["save"] = " ".join(saves)
    return conf, users, renamed
