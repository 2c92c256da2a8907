"""Bad input gives one clear line and a non-zero exit, never a traceback, never a hang (issue 10):
profiles, waivers, recorded facts, report directories, and config files with unknown directives.
Hermetic: tmp_path files only, no Docker, no network."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Union

import pytest
import yaml

from plancheck.facts import SOURCES, Context, FactError, FactStore, Facts, Unavailable
from plancheck.facts.backup import parse_crontab
from plancheck.facts.mariadb import MariaDBFacts, MariaDBSource
from plancheck.facts.nginx import parse_site
from plancheck.facts.optionfile import parse_mariadb_options, parse_redis_conf
from plancheck.facts.redis import RedisFacts
from plancheck.profile import ProfileError, load_profile
from plancheck.waivers import WaiverError, check_controls, load_waivers
from tests.audit import ROOT, load_good_facts, run_audit

PROFILES = ROOT / "profiles"
PROD = yaml.safe_load((PROFILES / "prod.yaml").read_text())
ONLY_PLAN = ["-k", "test_allocation"]
SECRET = "S3CRETHASHxyz"


def _child(tmp: Path, text: str, name: str = "child.yaml") -> Path:
    path = tmp / name
    path.write_text(f"extends: {PROFILES / 'prod.yaml'}\n{text}")
    return path


def _lines(path: Path) -> list[str]:
    with pytest.raises(ProfileError) as e:
        load_profile(path)
    assert e.value.lines and all("\n" not in line and len(line) < 400 for line in e.value.lines)
    return e.value.lines


# --- 1. the profile loader ------------------------------------------------------------------------
BOMB = "\n".join(['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
                 + [f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)]
                 + ["description: *i"])


def test_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    """9^9 leaves if expanded (gigabytes): refused while counting aliases, so the loader's memory
    stays small (measured as allocations, not as a wall-clock time)."""
    import tracemalloc

    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    tracemalloc.start()
    try:
        (line,) = _lines(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20, f"the loader allocated {peak / 2**20:.0f} MiB on an alias bomb"
    assert line.startswith(str(path)) and "alias" in line


@pytest.mark.parametrize("text,needle", [
    ("a: &a [*a]\n", "recursive"),
    ("a: &a {b: *a}\n", "recursive"),
    ("description: " + "[" * 200 + "]" * 200 + "\n", "nested deeper"),
    ("x: !!python/object:os.system ls\n", "not valid YAML"),
])
def test_yaml_limits(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    (line,) = _lines(path)
    assert needle in line


@pytest.mark.parametrize("value", ["1" * 400, '"' + "1" * 400 + 'GB"', "1" * 5000, "1e400", '"1e400GB"'])
def test_huge_size(tmp_path: Path, value: str) -> None:
    lines = _lines(_child(tmp_path, f"hardware:\n  memory: {value}\n"))
    assert any(": hardware.memory: " in line for line in lines)
    assert all("1" * 50 not in line for line in lines)  # the value is shown cut short


@pytest.mark.parametrize("field,value", [("retention", "1" * 400 + "d"), ("retention", "9" * 400),
                                         ("max_age", "1e400")])
def test_huge_duration(tmp_path: Path, field: str, value: str) -> None:
    (line,) = _lines(_child(tmp_path, f"backup:\n  {field}: {value}\n"))
    assert f": backup.{field}: invalid duration" in line


def test_impossible_date_is_text_not_a_crash(tmp_path: Path) -> None:
    # YAML's timestamp resolver used to raise a bare ValueError for 2026-13-45
    p = load_profile(_child(tmp_path, "description: 2026-13-45\n"))
    assert p.description == "2026-13-45"
    (line,) = _lines(_child(tmp_path, "hardware:\n  memory: 2026-13-45\n"))
    assert ": hardware.memory: invalid size '2026-13-45'" in line


def test_unknown_timezone(tmp_path: Path) -> None:
    (line,) = _lines(_child(tmp_path, "backup:\n  timezone: Mars/Olympus\n"))
    assert line.endswith(": backup.timezone: unknown time zone 'Mars/Olympus': expected an IANA name such as "
                         "Asia/Seoul or UTC")
    assert load_profile(_child(tmp_path, "backup:\n  timezone: UTC\n")).backup.timezone == "UTC"


# --- 2. a file that is no profile: never its content ----------------------------------------------
def test_shadow_like_file_is_not_echoed(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.write_text(f"root:$6${SECRET}:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n")  # keys of nulls
    (line,) = _lines(shadow)
    assert "not a profile" in line and SECRET not in line and "daemon" not in line
    shadow.write_text(f"root:$6${SECRET}:19000\n")  # a plain scalar
    (line,) = _lines(shadow)
    assert "not a YAML mapping" in line and SECRET not in line
    shadow.write_text(f"name: x\nroot:$6${SECRET}:19000:0:99999:7:::\n")  # among profile keys
    lines = _lines(shadow)
    assert any("(a key that is not a name, not shown): unknown key" in line for line in lines)
    assert not any(SECRET in line for line in lines)


@pytest.mark.parametrize("content,needle", [
    (b"\xff\xfe" + SECRET.encode(), "not UTF-8"),
    (f"- {SECRET}\n- b\n".encode(), "not a YAML mapping"),
    (f"{SECRET}: [unclosed\n".encode(), "not valid YAML"),
    (f"!{SECRET}xxxx {{a: 1}}\n".encode(), "not valid YAML"),
])
def test_non_profiles_say_what_not_what_is_inside(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "f"
    path.write_bytes(content)
    (line,) = _lines(path)
    assert needle in line and SECRET not in line


def test_not_a_regular_file_and_too_big(tmp_path: Path) -> None:
    assert "not a regular file" in _lines(Path("/dev/zero"))[0]
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * (2 << 20))
    assert "larger than" in _lines(big)[0]


def test_mapping_with_unknown_keys_names_them_only(tmp_path: Path) -> None:
    path = tmp_path / "conf.yaml"
    path.write_text(yaml.safe_dump({**PROD, "password": SECRET, "k" * 100: SECRET, "bell\x07": SECRET}))
    lines = _lines(path)
    assert any(": password: unknown key" in line for line in lines)
    assert any(": " + "k" * 57 + "...: unknown key" in line for line in lines)
    assert any(": (a key that is not a name, not shown): unknown key" in line for line in lines)
    assert not any(SECRET in line or "\x07" in line or "bell" in line for line in lines)
    path.write_text(yaml.safe_dump({"name": "x", **{f"extra{i}": SECRET for i in range(30)}}))
    lines = _lines(path)
    assert len(lines) == 21 and lines[-1].endswith("more problems not shown")  # 20 problems and a count
    path.write_text(yaml.safe_dump({"password": SECRET, "user": "root"}))  # no profile key at all
    (line,) = _lines(path)
    assert "not a profile" in line and "password" not in line


def test_cli_no_traceback_no_content(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.write_text(f"root:$6${SECRET}:19000:0:99999:7:::\n")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    for path, needle in ((shadow, "not a profile"), (bomb, "alias"),
                         (_child(tmp_path, "backup:\n  timezone: Mars/Olympus\n"), "unknown time zone")):
        reports = tmp_path / f"r-{path.stem}"
        out = subprocess.run([sys.executable, "-m", "pytest", f"--profile={path}", "--static",
                              f"--reports-dir={reports}", "-q", "-p", "no:randomly"], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
        text = out.stdout + out.stderr
        assert out.returncode == 4 and needle in text and "Traceback" not in text and SECRET not in text
        results = (reports / "latest" / "results.json").read_text()
        assert SECRET not in results and needle in results


# --- 3. report directories -------------------------------------------------------------------------
def test_profile_name_cannot_escape_the_reports_dir(tmp_path: Path) -> None:
    path = _child(tmp_path, "name: ../../escaped/x\n")
    run_audit(tmp_path, str(path), args=ONLY_PLAN + ["-k", "fit_ram"])
    dirs = [p.name for p in (tmp_path / "reports").iterdir() if not p.is_symlink()]
    assert len(dirs) == 1 and dirs[0].startswith("_.._escaped_x-"), dirs
    assert not (tmp_path.parent / "escaped").exists() and not (tmp_path / "escaped").exists()
    assert json.loads((tmp_path / "reports/latest/results.json").read_text())["run"]["profile"] == "../../escaped/x"


def test_latest_that_is_a_directory_is_left_alone(tmp_path: Path, capsys: Any) -> None:
    latest = tmp_path / "reports" / "latest"
    latest.mkdir(parents=True)
    (latest / "keep.txt").write_text("mine")
    code = _main(tmp_path, "--profile=prod", f"--waivers={PROFILES / 'prod.waivers.yaml'}", *ONLY_PLAN)
    err = capsys.readouterr().err
    assert code == 4 and "latest is a directory, not a symlink: left alone" in err and "Traceback" not in err
    assert [p.name for p in latest.iterdir()] == ["keep.txt"]
    runs = [p for p in (tmp_path / "reports").iterdir() if p.name.startswith("prod-")]
    assert len(runs) == 1 and (runs[0] / "results.json").exists()


def _main(tmp: Path, *args: str) -> int:
    return int(pytest.main([str(ROOT / "checks"), f"--reports-dir={tmp / 'reports'}", "-q", "-p", "no:cacheprovider",
                            f"--rootdir={ROOT}", "-c", str(ROOT / "pyproject.toml"), *args]))


def test_unwritable_reports_dir(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "reports").write_text("a file where the reports directory should be")
    waivers = f"--waivers={PROFILES / 'prod.waivers.yaml'}"
    assert _main(tmp_path, "--profile=prod", waivers, *ONLY_PLAN) == 4  # would be 0 with its reports written
    err = capsys.readouterr().err
    assert "plancheck: cannot write reports: cannot create" in err and "Traceback" not in err
    assert _main(tmp_path, f"--profile={tmp_path / 'nope.yaml'}") == 4  # the error path writes reports too
    err = capsys.readouterr().err
    assert "profile file not found" in err and "cannot write reports" in err and "Traceback" not in err


# --- 4. recorded facts -----------------------------------------------------------------------------
def _ctx() -> Context:
    return Context(profile=load_profile("prod", PROFILES), root=ROOT, mode="static")


@pytest.mark.parametrize("content,needle", [
    ('{"_meta": "static"}', "_meta: expected an object, found a string"),
    ('[{"mariadb": {}}]', "expected a JSON object keyed by source, found an array"),
    ('{"mariadb": "facts"}', "'mariadb': expected an object of facts, found a string"),
    ('{"redis": [1, 2]}', "'redis': expected an object of facts, found an array"),
    ('{"_meta": {"mode": "yesterday"}}', "_meta.mode"),
    ('{"mariadb": {', "cannot read recorded facts"),
    ("[" * 100000 + "]" * 100000, "cannot read recorded facts"),
    ("\xff", "cannot read recorded facts"),
])
def test_bad_recordings_are_one_line(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "facts.json"
    path.write_text(content, encoding="latin-1" if content == "\xff" else "utf-8")
    assert FactStore.recorded_mode(path) in ("static", "live")  # never raises
    with pytest.raises(FactError) as e:
        FactStore.from_recording(_ctx(), path)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_bad_recording_stops_the_run(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "facts.json"
    path.write_text('{"_meta": "static", "mariadb": {}}')
    res = run_audit(tmp_path, "prod", args=ONLY_PLAN + [f"--facts={path}"])
    err = capsys.readouterr().err
    assert res.exit_code == 4 and "_meta: expected an object" in err and "Traceback" not in err


class _Inner(Facts):
    value: Union[dict[str, str], Unavailable]


class _Roundtrip(Facts):
    as_dict: Union[dict[str, Any], Unavailable]
    as_list: Union[list[str], Unavailable]
    as_float: Union[float, Unavailable]
    as_str: Union[str, Unavailable]
    nested: dict[str, Union[_Inner, Unavailable]]
    items: list[_Inner]


def test_unavailable_round_trips_in_every_field_shape() -> None:
    u = Unavailable(reason="no static source", kind="absent")
    facts = _Roundtrip(as_dict=u, as_list=u, as_float=u, as_str=u, nested={"a": u, "b": _Inner(value=u)},
                       items=[_Inner(value=u), _Inner(value={"reason": "a real key"})])
    again = _Roundtrip.model_validate(json.loads(json.dumps(facts.model_dump(mode="json"))))
    assert again == facts and isinstance(again.as_dict, Unavailable) and again.items[1].value == {"reason": "a real key"}


def test_redis_persistence_unavailable_round_trips() -> None:  # RD-004 / RD-005 on replay
    good = load_good_facts()["redis"]
    facts = RedisFacts.model_validate({**good, "persistence": Unavailable(reason="INFO denied", kind="unknown")})
    again = RedisFacts.model_validate(json.loads(json.dumps(facts.model_dump(mode="json"))))
    assert again == facts and isinstance(again.persistence, Unavailable) and again.persistence.kind == "unknown"


def test_dump_then_facts_is_faithful(tmp_path: Path) -> None:
    """The recorded good facts (old shape: {"reason": ...}) load; dumping and reloading them gives
    equal models for every source."""
    good = load_good_facts()
    path = tmp_path / "good.json"
    path.write_text(json.dumps(good))
    first = FactStore.from_recording(_ctx(), path)
    assert isinstance(first.get("elasticsearch").policies, Unavailable)  # dict | Unavailable, old shape
    dumped = tmp_path / "dumped.json"
    dumped.write_text(json.dumps(first.dump()))
    second = FactStore.from_recording(_ctx(), dumped)
    names = [n for n in SOURCES if n in good]
    assert len(names) >= 10
    for name in names:
        assert second.get(name) == first.get(name), name


# --- 5. waivers ------------------------------------------------------------------------------------
def _waivers(tmp: Path, *entries: dict[str, Any]) -> Path:
    path = tmp / "w.yaml"
    path.write_text(yaml.safe_dump({"waivers": [{"justification": "accepted for a stated reason",
                                                 "approver": "plan owner", "expires": "2099-01-01", **e}
                                                for e in entries]}))
    return path


def test_unknown_control_id_is_refused(tmp_path: Path) -> None:
    path = _waivers(tmp_path, {"control": "PLAN-003"}, {"control": "PLAN-999"})
    waivers = load_waivers(path)
    with pytest.raises(WaiverError) as e:
        check_controls(waivers, {"PLAN-003"}, path)
    assert e.value.lines == [f"{path}: waivers.1.control: unknown control id 'PLAN-999' (not in the catalog)"]
    res = run_audit(tmp_path, "prod", args=ONLY_PLAN + [f"--waivers={path}"])
    assert res.exit_code == 4 and res.doc["run"]["errors"] == e.value.lines


@pytest.mark.parametrize("entry", [{"test": "*"}, {"control": "*"}, {"control": "*", "test": "**"}, {"test": "*?*"}])
def test_waiver_matching_everything_needs_scope_all(tmp_path: Path, entry: dict[str, Any]) -> None:
    with pytest.raises(WaiverError) as e:
        load_waivers(_waivers(tmp_path, entry))
    (line,) = e.value.lines
    assert "matches every check" in line and "scope: all" in line
    (w,) = load_waivers(_waivers(tmp_path, {**entry, "scope": "all"}))
    assert w.matches("ANY-001", "checks/test_x.py::test_y[z]")


def test_waiver_with_scope_all_needs_an_approver(tmp_path: Path) -> None:
    with pytest.raises(WaiverError) as e:
        load_waivers(_waivers(tmp_path, {"test": "*", "scope": "all", "approver": " "}))
    assert "approver" in e.value.lines[0]


@pytest.mark.parametrize("expires", ["2026-13-45", "2026-02-30", "soon"])
def test_invalid_expiry_date(tmp_path: Path, expires: str) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(f"waivers:\n  - control: PLAN-003\n    justification: accepted for a reason\n"
                    f"    approver: me\n    expires: {expires}\n")
    with pytest.raises(WaiverError) as e:
        load_waivers(path)
    (line,) = e.value.lines
    assert line.startswith(f"{path}: waivers.0.expires: ")


def test_waiver_alias_bomb(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(BOMB)
    with pytest.raises(WaiverError) as e:
        load_waivers(path)
    assert "alias" in e.value.lines[0]


def test_expired_waiver_on_terminal_and_in_junit(tmp_path: Path, capsys: Any) -> None:
    yesterday = (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)).isoformat()
    path = _waivers(tmp_path, {"control": "PLAN-003", "expires": yesterday})
    res = run_audit(tmp_path, "prod", args=ONLY_PLAN + [f"--waivers={path}"], capsys=capsys)
    assert res.exit_code == 1
    assert f"waiver expired on {yesterday}: PLAN-003 (approved by plan owner): no longer waives" in res.out
    suite = ET.parse(tmp_path / "reports/latest/junit.xml").getroot().find("testsuite")
    cases = [c for c in suite.findall("testcase") if c.get("name").startswith("PLAN-003 ")]
    assert cases
    for case in cases:
        props = {p.get("name"): p.get("value") for p in case.find("properties")}
        assert props["waiver_expired"] == yesterday and case.find("failure") is not None
        assert f"waiver expired on {yesterday}" in case.find("system-out").text


# --- 6. unknown directives in config files ---------------------------------------------------------
def test_mariadb_unknown_options() -> None:
    unknown: list[str] = []
    text = ("[client]\nno_such_client_option = 1\n[mysqld]\ninnodb_buffer_pool_size = 1G\n"
            "innodb_bufer_pool_size = 1G\nskip-name-resolve\nskip_symbolic_links\nloose-server-audit-logging = ON\n"
            "loose_no_such_plugin_option = 1\nenable-foo\n")
    parse_mariadb_options(text, "my.cnf", unknown=unknown)
    assert unknown == ["my.cnf:5: unknown option 'innodb_bufer_pool_size'",
                       "my.cnf:9: unknown option 'loose_no_such_plugin_option'",
                       "my.cnf:10: unknown option 'enable-foo'"]


def test_mariadb_static_facts_carry_unknown_options(tmp_path: Path) -> None:
    (tmp_path / "my.cnf").write_text("[mysqld]\nmax_connections = 10\nmax_conections = 10\n")
    prod = load_profile("prod", PROFILES)
    profile = prod.model_copy(update={"target": prod.target.model_copy(update={"config_files": {"mariadb": ["my.cnf"]}})})
    facts = MariaDBSource().static(Context(profile=profile, root=tmp_path, mode="static"))
    assert facts.unknown_options == [f"{tmp_path / 'my.cnf'}:3: unknown option 'max_conections'"]
    good = load_good_facts()["mariadb"]
    good.pop("unknown_options", None)  # the recorded set carries the static [] for DB-017; a live recording has none
    assert isinstance(MariaDBFacts.model_validate(good).unknown_options, Unavailable)


def test_baseline_config_files_have_no_unknown_directives() -> None:
    unknown: list[str] = []
    for f in ("my.cnf", "local.cnf"):
        parse_mariadb_options((ROOT / "baseline/config/mariadb" / f).read_text(), f, unknown=unknown)
    for f in ("redis.conf", "local.conf"):
        parse_redis_conf((ROOT / "baseline/config/redis" / f).read_text(), f, unknown=unknown)
    for f in (ROOT / "baseline/config/nginx").glob("*.conf"):
        unknown += parse_site(f.read_text(), f.name).unknown_directives
    problems: list[str] = []
    parse_crontab((ROOT / "baseline/config/backup/crontab").read_text(), "crontab", problems)
    assert unknown == [] and problems == []


def test_redis_unknown_directives() -> None:
    unknown: list[str] = []
    conf, _, _ = parse_redis_conf("maxmemory 1gb\nmaxmemroy 1gb\nSAVE 900 1\nslaveof h 1\n", "redis.conf", unknown)
    assert unknown == ["redis.conf:2: unknown directive 'maxmemroy'"] and conf["maxmemory"] == "1gb"


def test_nginx_unknown_directives() -> None:
    site = parse_site("http {\n  ssl_protocol TLSv1.3;\n  map $a $b { default 0; x 1; }\n  server {\n"
                      "    listen 443 ssl;\n    http2 on;\n    add_heder X-Frame-Options DENY;\n  }\n}\n", "gw.conf")
    assert site.unknown_directives == ["gw.conf:2: unknown directive 'ssl_protocol'",
                                       "gw.conf:7: unknown directive 'add_heder'"]


def test_crontab_problems() -> None:
    problems: list[str] = []
    entries = parse_crontab("0 2 * * * mysql /usr/local/bin/backup\n0 0 2 * * * root /usr/local/bin/backup\n"
                            "61 2 * * * root /bin/x\n@fortnightly root /bin/y\n@reboot root /bin/z\n", "cron.d/b", problems)
    assert [e.schedule for e in entries] == ["0 2 * * *"]
    assert [p.split(": ", 1)[0] for p in problems] == ["cron.d/b:2", "cron.d/b:3", "cron.d/b:4"]
    assert "six schedule fields '0 0 2 * * *'" in problems[0] and "'61 2 * * *'" in problems[1]
    with pytest.raises(FactError, match=r"cron\.d/b:1: six schedule fields"):
        parse_crontab("0 0 2 * * * root /usr/local/bin/backup\n", "cron.d/b")
