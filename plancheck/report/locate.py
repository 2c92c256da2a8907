"""Where a finding can be fixed: the desired-state file, and the line where findable, that sets the
value a record compared. Best effort, for SARIF locations: a wrong guess must never stop a report.

It reads only the profile's own desired-state files (the compose files and `target.config_files`,
and the profile with the files it extends), never a fact source. The rules, in order:
1. a file path named in the record's expected/found text ("RETENTION_DAYS (baseline/config/...)")
   picks that file;
2. the control's family picks the candidate files (CT-* the compose files, DB-* the MariaDB option
   files, RD-* redis.conf, WEB-* the nginx file of the site, PLAN-* the profile, ...);
3. inside a file, the line that sets the key: a compose service's key inside its block (or the
   block its `<<: *anchor` merges in), else the `  <service>:` line; an option-file variable
   (`name = value`, `-` and `_` alike); a redis/nginx directive; a YAML key or list item naming the
   item; else the first line naming the item. A file found without a line is a location too.
"""
from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml


@dataclass(frozen=True)
class Location:
    path: str                   # relative to the root, posix
    line: Optional[int] = None  # 1-based
    text: str = ""              # the line itself (stripped)


# control id prefix -> desired-state file keys to look in (config_files keys, "compose", "profile")
FAMILIES: dict[str, tuple[str, ...]] = {
    "CT": ("compose",), "NET": ("compose",), "GPU": ("compose",), "PORT": ("compose",), "SEG": ("compose",),
    "DB": ("mariadb",), "RD": ("redis",), "WEB": ("gateway", "admin-portal"),
    "TLS": ("gateway", "admin-portal", "mariadb", "redis", "compose"),
    "MTLS": ("gateway", "admin-portal", "mariadb", "redis", "compose"),
    "BK": ("backup-config", "backup-crontab", "compose"),
    "MON": ("prometheus", "prometheus-rules", "alertmanager"),
    "LOG": ("logrotate", "rsyslog"),
    "PLAN": ("profile",), "HW": ("profile",),
}

# the key a control compares, where its records do not name it
KEYS: dict[str, tuple[str, ...]] = {
    "CT-004": ("mem_limit", "memory"), "CT-005": ("cpus",), "CT-006": ("pids_limit",), "CT-007": ("restart",),
    "CT-008": ("privileged",), "CT-009": ("cap_add", "cap_drop"), "CT-010": ("security_opt",),
    "CT-011": ("read_only",), "CT-012": ("user",), "CT-013": ("network_mode",), "CT-014": ("pid",),
    "CT-015": ("ipc",), "CT-016": ("uts",), "CT-017": ("userns_mode",), "CT-018": ("volumes",),
    "CT-019": ("volumes",), "CT-020": ("devices",), "CT-021": ("security_opt",), "CT-022": ("logging",),
    "CT-023": ("networks",), "CT-025": ("image",), "CT-026": ("healthcheck",), "NET-001": ("internal",),
    "GPU-010": ("device_ids", "deploy"), "GPU-011": ("runtime", "environment", "devices", "deploy"),
    "GPU-012": ("deploy", "runtime", "environment", "devices"),
    "PORT-002": ("ports",),
    "WEB-001": ("ssl_protocols",), "WEB-002": ("Strict-Transport-Security",), "WEB-003": ("server_tokens",),
    "WEB-004": ("ssl_verify_client",), "WEB-005": ("proxy_ssl_verify", "proxy_pass"), "WEB-006": ("listen",),
    "WEB-007": ("X-Frame-Options", "X-Content-Type-Options", "add_header"),
    "DB-004": ("tls_version",), "DB-005": ("tls_version",), "DB-009": ("server_audit", "plugin_load_add"),
    "DB-007": ("file_key_management", "plugin_load_add"),
    "RD-007": ("port",), "MON-002": ("job_name",), "MON-005": ("receivers", "route"), "LOG-004": ("audit",),
    "BK-001": ("CRON_TZ", "plancheck-backup"), "BK-002": ("TOOL", "INCREMENTAL"), "BK-003": ("RETENTION_DAYS",),
    "BK-007": ("CIPHER",), "BK-008": ("KEY_FILE",),
    "PLAN-001": ("allocations",), "PLAN-002": ("allocations",), "PLAN-003": ("containers",),
    "PLAN-004": ("zones", "allocations"), "PLAN-005": ("allocations",), "PLAN-006": ("allocations",),
    "PLAN-007": ("containers",), "PLAN-008": ("containers",), "PLAN-009": ("allocations",),
    "PLAN-010": ("innodb_buffer_pool_size",), "PLAN-011": ("maxmemory",), "PLAN-012": ("containers",),
    "HW-001": ("cpu",), "HW-002": ("cpu",), "HW-003": ("memory",), "HW-004": ("storage",), "HW-005": ("network",),
}

_PATH = re.compile(r"[\w./-]+\.(?:ya?ml|conf|cnf|cfg|ini|json)\b|[\w./-]*crontab\b")
_WHAT = re.compile(r"^\s*([A-Za-z][\w.-]*)")


def desired_state_files(profile: Any, root: Path, profile_path: Optional[Path] = None) -> dict[str, list[str]]:
    """{key: [paths relative to root]} of the profile's desired state: "compose", each config_files
    key (globs expanded) and "profile" (the profile file, then the files it extends)."""
    out: dict[str, list[str]] = {}

    def rel(p: Path) -> Optional[str]:
        try:
            return p.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return None

    compose = getattr(getattr(profile, "target", None), "compose", None)
    if compose is not None:
        base = root / compose.project_dir
        out["compose"] = [r for f in compose.files if (base / f).is_file() and (r := rel(base / f))]
    for key, patterns in getattr(getattr(profile, "target", None), "config_files", {}).items():
        paths: list[str] = []
        for pat in patterns:
            for p in sorted(glob.glob(str(root / pat))) if any(c in pat for c in "*?[") else [str(root / pat)]:
                r = rel(Path(p))
                if r and Path(p).is_file():
                    paths.append(r)
        out[key] = paths
    chain: list[str] = []
    p = profile_path
    while p is not None and p.is_file() and len(chain) < 10:
        r = rel(p)
        if r is None or r in chain:
            break
        chain.append(r)
        try:
            parent = (yaml.safe_load(p.read_text(encoding="utf-8")) or {}).get("extends")
        except (OSError, yaml.YAMLError, AttributeError):
            break
        if not parent:
            break
        parent = str(parent)
        p = (p.parent / parent) if parent.endswith((".yaml", ".yml")) else p.parent / f"{parent}.yaml"
    out["profile"] = chain
    return out


def _item(nodeid: str) -> str:
    m = re.search(r"\[(.*)\]$", nodeid)
    return m.group(1) if m else ""


def _is_comment(line: str) -> bool:
    s = line.strip()
    return not s or s.startswith(("#", ";", "//"))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _key_line(lines: list[str], key: str, start: int = 0, end: Optional[int] = None) -> Optional[int]:
    """Index of the line that sets `key`: `key:` (YAML), `key = v` / `key v` (option files,
    redis, nginx; `-` and `_` alike), `- key` or a quoted `"key"` list item."""
    k = re.sub(r"\\-|_", "[-_]", re.escape(key))
    setter = re.compile(rf"^\s*(?:-\s*)?(?:(?:alert|job_name|name|record):\s*)?[\"']?{k}[\"']?(?:\s*[:=]|\s|;|$)", re.I)
    for i in range(start, len(lines) if end is None else end):
        if not _is_comment(lines[i]) and setter.search(lines[i]):
            return i
    return None


def _word_line(lines: list[str], word: str, start: int = 0, end: Optional[int] = None) -> Optional[int]:
    w = re.compile(rf"(?<![\w-]){re.escape(word)}(?![\w-])")
    for i in range(start, len(lines) if end is None else end):
        if not _is_comment(lines[i]) and w.search(lines[i]):
            return i
    return None


def _block(lines: list[str], head: int) -> int:
    """End (exclusive) of the YAML block whose key is on line `head`."""
    ind = _indent(lines[head])
    for i in range(head + 1, len(lines)):
        if not _is_comment(lines[i]) and _indent(lines[i]) <= ind:
            return i
    return len(lines)


class Locator:
    def __init__(self, root: Path, files: dict[str, list[str]]):
        self.root = root
        self.files = files
        self._cache: dict[str, list[str]] = {}

    def _lines(self, path: str) -> list[str]:
        if path not in self._cache:
            try:
                self._cache[path] = (self.root / path).read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                self._cache[path] = []
        return self._cache[path]

    def _at(self, path: str, i: Optional[int]) -> Location:
        lines = self._lines(path)
        return Location(path, i + 1, lines[i].strip()) if i is not None else Location(path)

    def candidates(self, rec: dict[str, Any]) -> list[str]:
        text = f"{rec.get('expected', '')} {rec.get('found', '')} {rec.get('message', '')}"
        every = [p for paths in self.files.values() for p in paths]
        named = []
        for m in _PATH.finditer(text):
            tail = m.group(0).lstrip("./")
            named += [p for p in every if p == tail or p.endswith("/" + tail) or tail.endswith("/" + p)]
        if named:
            return list(dict.fromkeys(named))
        family = str(rec.get("control", "")).split("-")[0]
        keys = FAMILIES.get(family, ())
        out: list[str] = []
        for k in self._own_files(rec) or keys:
            out += self.files.get(k, [])
        return list(dict.fromkeys(out))

    def _own_files(self, rec: dict[str, Any]) -> list[str]:
        """An endpoint item of the TLS/web families ("gateway", "gateway:80") names its own file key."""
        family = str(rec.get("control", "")).split("-")[0]
        if family not in ("WEB", "TLS", "MTLS"):
            return []
        item = _item(str(rec.get("nodeid", "")))
        return [k for k in FAMILIES[family] if k != "compose" and (item == k or item.startswith(k + ":"))]

    def terms(self, rec: dict[str, Any]) -> list[str]:
        """Keys to look for: the parts of expected/found that differ first, then the control's keys,
        then the other parts' keys."""
        ctl = str(rec.get("control", ""))
        exp = str(rec.get("expected", "")).split("; ")
        fnd = str(rec.get("found", "")).split("; ")
        differing = [e for e, f in zip(exp, fnd) if e != f] + exp[len(fnd):]
        terms: list[str] = []
        for part in differing:
            terms += [m.group(1) for m in re.finditer(r"\bnetwork ([\w-]+)", part)]
            m = _WHAT.match(part)
            if m and len(m.group(1)) > 2:
                terms.append(m.group(1))
        terms += list(KEYS.get(ctl, ()))
        for part in exp + fnd:
            m = _WHAT.match(part)
            if m and len(m.group(1)) > 2:
                terms.append(m.group(1))
        return list(dict.fromkeys(terms))

    def locate(self, rec: dict[str, Any]) -> Optional[Location]:
        try:
            return self._locate(rec)
        except Exception:  # best effort: a report is never lost to a guess
            return None

    def _in_service(self, path: str, service: str, terms: list[str], head_only: bool) -> Optional[Location]:
        lines = self._lines(path)
        head = next((i for i, ln in enumerate(lines) if re.match(rf"^  {re.escape(service)}:\s*(#.*)?$", ln)), None)
        if head is None:
            return None
        if head_only:
            return self._at(path, head)
        end = _block(lines, head)
        for t in terms:
            i = _key_line(lines, t, head + 1, end)
            if i is not None:
                return self._at(path, i)
        anchor = next((m.group(1) for ln in lines[head:end] if (m := re.match(r"^\s*<<:\s*\*([\w-]+)", ln))), None)
        if anchor:
            a = next((i for i, ln in enumerate(lines) if re.search(rf"&{re.escape(anchor)}\b", ln)), None)
            if a is not None:
                for t in terms:
                    i = _key_line(lines, t, a + 1, _block(lines, a))
                    if i is not None:
                        return self._at(path, i)
        return None

    def _locate(self, rec: dict[str, Any]) -> Optional[Location]:
        files = self.candidates(rec)
        if not files:
            return None
        item = _item(str(rec.get("nodeid", "")))
        terms = self.terms(rec)
        compose = [f for f in files if f in set(self.files.get("compose", []))]
        # a compose service (the item names a container): its key inside its block, in any compose
        # file (an override file may set it), else the service's own line
        if item and compose:
            for head_only in (False, True):
                for path in compose:
                    hit = self._in_service(path, item, terms, head_only)
                    if hit is not None:
                        return hit
        # a top-level compose network named in the finding ("network data: routed")
        for path in compose:
            lines = self._lines(path)
            top = next((i for i, ln in enumerate(lines) if ln.rstrip() == "networks:"), None)
            if top is None:
                continue
            end = _block(lines, top)
            for t in terms:
                i = next((j for j in range(top + 1, end) if re.match(rf"^  {re.escape(t)}:", lines[j])), None)
                if i is not None:
                    k = _key_line(lines, "internal", i + 1, _block(lines, i))
                    return self._at(path, k if k is not None else i)
        # a named item (variable, directive, job, alert, class, allocation) or the control's keys
        own = bool(self._own_files(rec))
        words = ([] if own or not item else [item]) + terms
        for w in words:
            for part in dict.fromkeys((w, w.split(":")[0], w.split("->")[0])):
                for path in files:
                    i = _key_line(self._lines(path), part)
                    if i is not None:
                        return self._at(path, i)
        for w in terms + ([] if own or not item else [item]):
            for path in files:
                i = _word_line(self._lines(path), w)
                if i is not None:
                    return self._at(path, i)
        return Location(files[0])
