"""The pytest plugin: options, profile loading, parametrization, records, waivers, reports, gating.

Registered through the `pytest11` entry point (pyproject.toml). Inactive unless `--profile` is
given, so the suite's own tests run without it.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any, Optional

import pytest

from plancheck.controls import CATALOG, SEVERITY_ORDER
from plancheck.evaluate import Check, ControlFailure
from plancheck.facts.base import Context, FactError, FactStore, NoSource
from plancheck.params import PARAMETERS
from plancheck.profile import ProfileError, load_profile
from plancheck.profile.models import Profile
from plancheck.results import Collector, summarize
from plancheck.report import write_reports
from plancheck.waivers import Waiver, WaiverError, find_waiver, load_waivers

STATE = pytest.StashKey["RunState"]()


class RunState:
    def __init__(self, config: pytest.Config):
        self.config = config
        self.profile_name: str = config.getoption("plancheck_profile")
        facts = config.getoption("plancheck_facts")
        self.recorded: Optional[str] = facts
        self.mode: str = FactStore.recorded_mode(Path(facts)) if facts else (
            "static" if config.getoption("plancheck_static") else "live")
        self.fail_on: str = config.getoption("plancheck_fail_on")
        self.profile: Optional[Profile] = None
        self.waivers: list[Waiver] = []
        self.errors: list[str] = []
        self.notes: list[str] = []
        self.collector = Collector()
        self.started = dt.datetime.now(dt.timezone.utc)
        self.t0 = time.monotonic()
        self.store: Optional[FactStore] = None

    @property
    def is_worker(self) -> bool:
        return hasattr(self.config, "workerinput")


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("plancheck", "plancheck: audit a platform against its infrastructure plan")
    g.addoption("--profile", dest="plancheck_profile", default=None,
                help="profile name (profiles/NAME.yaml) or path; enables the audit")
    g.addoption("--static", dest="plancheck_static", action="store_true",
                help="audit the desired state (compose and config files) instead of the running platform")
    g.addoption("--facts", dest="plancheck_facts", default=None,
                help="evaluate recorded facts (JSON from --dump-facts) instead of reading any source")
    g.addoption("--dump-facts", dest="plancheck_dump_facts", default=None,
                help="write the gathered facts as JSON to this file")
    g.addoption("--waivers", dest="plancheck_waivers", default=None, help="waiver file (YAML)")
    g.addoption("--fail-on", dest="plancheck_fail_on", default="low",
                choices=["low", "medium", "high", "critical"],
                help="exit non-zero only for failures at or above this severity (default: any)")
    g.addoption("--reports-dir", dest="plancheck_reports_dir", default=None,
                help="where run reports go (default: <rootdir>/reports)")
    g.addoption("--restore-drill", dest="plancheck_restore_drill", action="store_true",
                help="also run the backup restore drill (same as -m restore_drill; opt-in: slow, needs Docker)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "control(id): the plancheck control a check implements")
    config.addinivalue_line("markers", "restore_drill: the backup restore drill (slow; opt-in for prod)")
    if not config.getoption("plancheck_profile"):
        return
    state = RunState(config)
    config.stash[STATE] = state
    root = Path(config.rootpath)
    try:
        state.profile = load_profile(state.profile_name, root / "profiles")
        if config.getoption("plancheck_waivers"):
            state.waivers = load_waivers(Path(config.getoption("plancheck_waivers")))
    except (ProfileError, WaiverError) as e:
        state.errors = e.lines
        if not state.is_worker:
            _write(state, exit_status=4)
        raise pytest.UsageError("\n".join(e.lines)) from None
    config.pluginmanager.register(_Recorder(state), f"plancheck-recorder-{id(state)}")
    ctx = Context(profile=state.profile, root=root, mode=state.mode)  # type: ignore[arg-type]
    if restore_drill_wanted(config):
        ctx.env["PLANCHECK_RESTORE_DRILL"] = "1"  # the drill source runs only when asked for
    facts_file = config.getoption("plancheck_facts")
    try:
        state.store = FactStore.from_recording(ctx, Path(facts_file)) if facts_file else FactStore(ctx)
    except FactError as e:
        state.errors = [str(e)]
        if not state.is_worker:
            _write(state, exit_status=4)
        raise pytest.UsageError(str(e)) from None


def _state(config: pytest.Config) -> Optional[RunState]:
    return config.stash.get(STATE, None)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    state = _state(metafunc.config)
    for argname, fn in PARAMETERS.items():
        if argname not in metafunc.fixturenames:
            continue
        items = list(fn(state.profile)) if state and state.profile else []
        metafunc.parametrize(argname, [v for _, v in items], ids=[i for i, _ in items])


def restore_drill_wanted(config: pytest.Config) -> bool:
    expr = config.getoption("markexpr", "") or ""
    return bool(config.getoption("plancheck_restore_drill", False)) or (
        "restore_drill" in expr and "not restore_drill" not in expr)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not restore_drill_wanted(config):  # the drill control is opt-in: deselected unless asked for
        drill = [i for i in items if i.get_closest_marker("restore_drill") and i.get_closest_marker("control")]
        if drill:
            config.hook.pytest_deselected(items=drill)
            items[:] = [i for i in items if i not in drill]
    if _state(config) is not None:
        return
    skip = pytest.mark.skip(reason="no --profile given: plancheck controls need a profile")
    for item in items:
        if item.get_closest_marker("control"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def plancheck_state(pytestconfig: pytest.Config) -> RunState:
    state = _state(pytestconfig)
    if state is None or state.profile is None:
        pytest.skip("no --profile given")
    return state


@pytest.fixture(scope="session")
def profile(plancheck_state: RunState) -> Profile:
    assert plancheck_state.profile is not None
    return plancheck_state.profile


@pytest.fixture(scope="session")
def fact_store(plancheck_state: RunState) -> FactStore:
    assert plancheck_state.store is not None
    return plancheck_state.store


def gather(store: FactStore, name: str) -> Any:
    """Facts of one source for a fixture: a failure to read becomes the check's one-line error,
    a mode without a source becomes a skip with the reason."""
    try:
        return store.get(name)
    except NoSource as e:
        pytest.skip(str(e))


@pytest.fixture
def check(request: pytest.FixtureRequest) -> Check:
    marker = request.node.get_closest_marker("control")
    ctl = CATALOG.get(marker.args[0]) if marker else None
    return Check(request.node, ctl)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("control")
    if not marker or marker.args[0] not in CATALOG:
        return
    ctl = CATALOG[marker.args[0]]
    item.user_properties.extend([
        ("control", ctl.id), ("title", ctl.title), ("severity", ctl.severity), ("section", ctl.section),
        ("remediation", ctl.remediation), ("tags", ",".join(ctl.tags)),
    ])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # type: ignore[no-untyped-def]
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    state = _state(item.config)
    if call.excinfo is not None and call.excinfo.errisinstance((ControlFailure, FactError)):
        report.longrepr = str(call.excinfo.value)  # one line, not a traceback
    if state is None or report.outcome != "failed" or call.when != "call":
        return
    ctl = dict(item.user_properties).get("control", "")
    waiver = find_waiver(state.waivers, ctl, item.nodeid)
    if waiver is None:
        return
    today = dt.datetime.now(dt.timezone.utc).date()
    info = {"justification": waiver.justification, "approver": waiver.approver,
            "expires": waiver.expires.isoformat(), "expired": waiver.expired(today)}
    report.user_properties.append(("waiver", info))
    if not info["expired"]:
        report.outcome = "skipped"
        report.wasxfail = f"waived until {info['expires']} by {waiver.approver}: {waiver.justification}"


class _Recorder:
    """Per-session plugin object (not a module global), so a nested run (the suite's own tests run
    audits in-process) never mixes its records with the outer one's."""

    def __init__(self, state: RunState):
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # runs on the controller under xdist too, with user_properties carried over from workers
        if not self.state.is_worker:
            self.state.collector.add(report)


def _gate(state: RunState, records: list[Any]) -> int:
    threshold = SEVERITY_ORDER[state.fail_on]
    blocking = [r for r in records if r.outcome == "failed"
                and SEVERITY_ORDER.get(r.severity or "critical", 4) >= threshold]
    errors = [r for r in records if r.outcome == "error"]
    return 1 if blocking or errors else 0


def _write(state: RunState, exit_status: int) -> Path:
    records = state.collector.sorted()
    profile = state.profile
    doc = {
        "run": {
            "tool": "plancheck",
            "profile": profile.name if profile else Path(state.profile_name).stem,
            "plan": profile.plan if profile else "",
            "mode": state.mode,
            "recorded_facts": state.recorded or "",
            "started": state.started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "duration_s": round(time.monotonic() - state.t0, 3),
            "fail_on": state.fail_on,
            "target": profile.target.docker_host if profile else "",
            "exit_status": exit_status,
            "errors": state.errors,
            "notes": state.notes,
        },
        "summary": summarize(records),
        "checks": [r.as_dict() for r in records],
    }
    base = Path(state.config.getoption("plancheck_reports_dir") or Path(state.config.rootpath) / "reports")
    name = f"{doc['run']['profile']}-{state.started.strftime('%Y%m%dT%H%M%S%fZ')}"
    return write_reports(base, name, doc)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = _state(session.config)
    if state is None or state.is_worker or session.config.option.collectonly:
        return
    records = state.collector.sorted()
    if state.store is not None:
        dump = session.config.getoption("plancheck_dump_facts")
        if dump:
            Path(dump).write_text(json.dumps(state.store.dump(), indent=1, ensure_ascii=False))
        state.notes.extend(state.store.notes)
    if records and exitstatus in (0, 1):
        session.exitstatus = _gate(state, records)
    state.report_dir = _write(state, int(session.exitstatus))  # type: ignore[attr-defined]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = _state(config)
    if state is None or state.is_worker or not hasattr(state, "report_dir"):
        return
    counts = summarize(state.collector.sorted())
    terminalreporter.write_sep("-", "plancheck")
    terminalreporter.write_line(
        f"profile {state.profile_name} ({state.mode}{', recorded facts' if state.recorded else ''}): "
        f"{counts['total']} checks, "
        + ", ".join(f"{counts[k]} {k}" for k in ("passed", "failed", "waived", "skipped", "error")))
    for note in state.notes:
        terminalreporter.write_line(f"note: {note}")
    terminalreporter.write_line(f"reports: {state.report_dir}/{{junit.xml,report.html,results.json}}")
