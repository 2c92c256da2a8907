"""Load a profile: YAML, `extends:` merge (child keys override, lists are replaced), validation.

Every problem becomes one line `FILE: key.path: what is wrong`, naming the file that set the key,
so a malformed profile stops the run before any check, without a traceback.
"""
from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from plancheck.profile.models import Profile


class ProfileError(Exception):
    """One or more problems in a profile; `lines` holds one message per problem."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))


# Bounds on what a profile (or a waiver file) may be: anything past them is not a plan.
MAX_FILE_BYTES = 1 << 20  # prod.yaml is about 20 KB
MAX_NODES = 100_000  # YAML nodes after expanding aliases (each use of an alias counts in full)
MAX_DEPTH = 64  # nesting of mappings and sequences
MAX_LINES = 20  # problems shown for one file; the rest are counted
MAX_KEY_CHARS = 60


class YamlLimitError(Exception):
    """A YAML document past MAX_NODES / MAX_DEPTH, or one that refers to itself."""


def clean(text: object, limit: int = 200) -> str:
    """Printable text of at most `limit` characters (no control characters, no line breaks), so a
    message can never carry a file's bytes to the terminal or the reports verbatim."""
    out = "".join(c if c.isprintable() else " " for c in str(text))
    out = " ".join(out.split())
    return out if len(out) <= limit else out[: limit - 3] + "..."


_NAME = re.compile(r"[A-Za-z0-9_.@+/-]+")


def _key(part: object) -> str:
    """A key path part as messages show it: a name (cut at MAX_KEY_CHARS); a key that is not a name
    may be a file's content (`root:$6$...:` lines of /etc/shadow parse as mapping keys): not shown."""
    text = str(part)
    if not _NAME.fullmatch(text):
        return "(a key that is not a name, not shown)"
    return text if len(text) <= MAX_KEY_CHARS else text[: MAX_KEY_CHARS - 3] + "..."


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [x for pair in node.value for x in pair]
    return []


def check_node_graph(root: yaml.Node) -> None:
    """Refuse alias bombs ("billion laughs"), self-referring documents and absurd nesting before
    anything is constructed: the node graph is a DAG of shared nodes, so its expanded size is
    computed in linear time without expanding it."""
    size: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 0, False)]
    while stack:
        node, depth, done = stack.pop()
        k = id(node)
        if done:
            total = 1 + sum(size[id(c)] for c in _children(node))
            if total > MAX_NODES:
                raise YamlLimitError(f"expands to more than {MAX_NODES} values through aliases (an alias bomb?)")
            size[k] = total
            active.discard(k)
            continue
        if k in size:
            continue
        if k in active:
            raise YamlLimitError("an alias refers to a value that contains it (a recursive document)")
        if depth > MAX_DEPTH:
            raise YamlLimitError(f"nested deeper than {MAX_DEPTH} levels")
        active.add(k)
        stack.append((node, depth, True))
        for c in _children(node):
            if id(c) in active:
                raise YamlLimitError("an alias refers to a value that contains it (a recursive document)")
            if id(c) not in size:
                stack.append((c, depth + 1, False))


class SafeLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """yaml's safe loader (LibYAML's C parser when available) that checks the node graph before
    constructing it, and keeps impossible dates (2026-13-45) and integers too long to convert as
    text, so that validation names the key instead of the YAML library raising a bare ValueError."""

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        check_node_graph(node)
        return self.construct_document(node)


def _scalar_or_text(parent: Any) -> Any:
    def construct(loader: Any, node: yaml.Node) -> Any:
        try:
            return parent(loader, node)
        except (ValueError, OverflowError):
            return loader.construct_scalar(node)
    return construct


SafeLoader.add_constructor("tag:yaml.org,2002:timestamp",
                           _scalar_or_text(yaml.constructor.SafeConstructor.construct_yaml_timestamp))
SafeLoader.add_constructor("tag:yaml.org,2002:int",
                           _scalar_or_text(yaml.constructor.SafeConstructor.construct_yaml_int))


def read_bounded(path: Path, what: str = "profile file") -> str:
    """The text of a small regular UTF-8 file, or one line saying why not (never its content)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ProfileError([f"{path}: {what} not found"]) from None
    except OSError as e:
        raise ProfileError([f"{path}: cannot read: {e.strerror}"]) from None
    except ValueError:  # an embedded NUL byte
        raise ProfileError([f"{clean(path)}: not a valid file name"]) from None
    if not stat.S_ISREG(st.st_mode):
        raise ProfileError([f"{path}: not a regular file"])
    if st.st_size > MAX_FILE_BYTES:
        raise ProfileError([f"{path}: larger than {MAX_FILE_BYTES} bytes: not a {what}"])
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise ProfileError([f"{path}: cannot read: {e.strerror}"]) from None
    if len(data) > MAX_FILE_BYTES:
        raise ProfileError([f"{path}: larger than {MAX_FILE_BYTES} bytes: not a {what}"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ProfileError([f"{path}: not UTF-8 text: not a {what}"]) from None


def parse_yaml(text: str, path: Path) -> Any:
    """YAML through SafeLoader; any problem is one ProfileError line without the file's content."""
    try:
        return yaml.load(text, Loader=SafeLoader)  # noqa: S506 (SafeLoader: a subclass of yaml's safe loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(document)"
        # quoted fragments (tags, anchors) come from the file: leave them out
        problem = re.sub(r"'[^']{8,}'", "'...'", str(getattr(e, "problem", None) or "syntax error"))
        raise ProfileError([f"{path}: {where}: not valid YAML: {clean(problem, 120)}"]) from None
    except YamlLimitError as e:
        raise ProfileError([f"{path}: (document): {e}"]) from None
    except (ValueError, TypeError, OverflowError, RecursionError) as e:
        raise ProfileError([f"{path}: (document): not valid YAML: {type(e).__name__}"]) from None


def resolve_profile_path(name_or_path: str, search_dir: Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or "/" in name_or_path:
        return p if p.is_absolute() else (Path.cwd() / p)
    return search_dir / f"{name_or_path}.yaml"


def _read_yaml(path: Path) -> dict[str, Any]:
    data = parse_yaml(read_bounded(path), path)
    if not isinstance(data, dict):
        # never the content: this may be any file the user pointed at (--profile=/etc/shadow)
        raise ProfileError([f"{path}: not a YAML mapping (a profile is a mapping of sections, "
                            f"found {type(data).__name__})"])
    sections = set(Profile.model_fields) | {"extends"}
    if data and not any(isinstance(k, str) and k in sections for k in data):
        raise ProfileError([f"{path}: not a profile: a YAML mapping, but none of its {len(data)} top-level keys "
                            "is a profile section"])
    return data


def _merge(base: Any, child: Any, origin: dict[tuple, str], child_file: str, path: tuple = ()) -> Any:
    """Deep-merge dicts; anything else (lists included) is replaced by the child."""
    if isinstance(base, dict) and isinstance(child, dict):
        out = dict(base)
        for k, v in child.items():
            out[k] = _merge(base.get(k), v, origin, child_file, path + (k,)) if k in base else v
            if k not in base:
                _mark(v, origin, child_file, path + (k,))
        return out
    _mark(child, origin, child_file, path)
    return child


def _mark(value: Any, origin: dict[tuple, str], file: str, path: tuple) -> None:
    origin[path] = file
    if isinstance(value, dict):
        for k, v in value.items():
            _mark(v, origin, file, path + (k,))


def load_raw(path: Path, _seen: tuple[Path, ...] = ()) -> tuple[dict[str, Any], dict[tuple, str]]:
    """The merged mapping of a profile and its ancestors, and which file set each key path."""
    try:
        path = path.resolve()
    except (OSError, ValueError, RuntimeError):
        raise ProfileError([f"{clean(path)}: not a valid file name"]) from None
    if path in _seen:
        chain = " -> ".join(str(p) for p in _seen + (path,))
        raise ProfileError([f"{path}: extends: cycle ({chain})"])
    data = _read_yaml(path)
    parent = data.pop("extends", None)
    origin: dict[tuple, str] = {}
    if parent is None:
        _mark(data, origin, str(path), ())
        return data, origin
    if not isinstance(parent, str):
        raise ProfileError([f"{path}: extends: must be the name or path of one profile"])
    parent_path = resolve_profile_path(parent, path.parent)
    if not parent_path.is_absolute():
        parent_path = path.parent / parent
    base, origin = load_raw(parent_path, _seen + (path,))
    merged = _merge(base, data, origin, str(path))
    return merged, origin


def overridden_paths(base: Any, child: Any, path: tuple = ()) -> list[str]:
    """Dotted key paths where `child` (a merged profile) differs from `base` (the plan it extends):
    mappings are compared key by key, anything else (lists included) as a whole."""
    if isinstance(base, dict) and isinstance(child, dict):
        out: list[str] = []
        for k, v in child.items():
            if k not in base:
                out.append(".".join(str(x) for x in path + (k,)))
            else:
                out += overridden_paths(base[k], v, path + (k,))
        return out
    return [] if base == child else [".".join(str(x) for x in path)]


def _root_data(path: Path) -> dict[str, Any]:
    """The profile at the root of `path`'s extends chain (the plan), as written."""
    seen: set[Path] = set()
    while True:
        path = path.resolve()
        if path in seen:  # load_raw has already reported a cycle
            return {}
        seen.add(path)
        data = _read_yaml(path)
        parent = data.pop("extends", None)
        if not isinstance(parent, str):
            return data
        nxt = resolve_profile_path(parent, path.parent)
        path = nxt if nxt.is_absolute() else path.parent / parent


def _file_for(loc: tuple, origin: dict[tuple, str], default: str) -> str:
    for n in range(len(loc), 0, -1):
        if loc[:n] in origin:
            return origin[loc[:n]]
    return default


def load_profile(name_or_path: str | Path, search_dir: Path | None = None) -> Profile:
    search_dir = search_dir or Path.cwd() / "profiles"
    path = resolve_profile_path(str(name_or_path), search_dir)
    data, origin = load_raw(path)
    if isinstance(data, dict) and "overrides" in data:
        raise ProfileError([f"{_file_for(('overrides',), origin, str(path.resolve()))}: overrides: set by the loader "
                            "(the keys that differ from the extended profile), not in a profile file"])
    try:
        profile = Profile.model_validate(data)
        changed = tuple(sorted(p for p in overridden_paths(_root_data(path), data) if p != "name"
                               and not p.startswith("description")))
        return profile.model_copy(update={"overrides": changed}) if changed else profile
    except ValidationError as e:
        lines = []
        for err in e.errors():
            loc = tuple(x for x in err["loc"] if not isinstance(x, str) or not x.startswith("function-"))
            # Union members and validator names show up in pydantic's loc; drop them from the key path.
            loc = tuple(x for x in loc if x not in ("bool", "int", "str"))
            key = ".".join(_key(x) for x in loc) or "(top)"
            msg = clean(err["msg"].removeprefix("Value error, "))
            if err["type"] == "missing":
                msg = "required key is missing"
            elif err["type"] == "extra_forbidden":
                msg = "unknown key (not part of the profile schema)"
            lines.append(f"{_file_for(loc, origin, str(path.resolve()))}: {key}: {msg}")
        # a union reports the same bad value once per member: say it once
        lines = list(dict.fromkeys(lines))
        if len(lines) > MAX_LINES:
            lines = lines[:MAX_LINES] + [f"{path.resolve()}: (top): {len(lines) - MAX_LINES} more problems not shown"]
        raise ProfileError(lines) from None
