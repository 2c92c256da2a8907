"""The pytest plugin: options, profile loading, parametrization, records, waivers, reports, gating.

Registered through the `pytest11` entry point (pyproject.toml). Inactive unless `--profile` is
given, so the suite's own tests run without it.
"""
from __future__ import annotations

import datetime as dt
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any, Optional

import pytest

from plancheck.audit_accounts import audit_accounts
from plancheck.cmdline import pytest_load_initial_conftests  # noqa: F401  (a hook: `--opt value` == `--opt=value`)
from plancheck.controls import CATALOG, basis
from plancheck.evaluate import Check, ControlFailure, NotHere, not_here
from plancheck.facts.base import Context, FactError, FactStore, NoSource
from plancheck import fleet, gathering
from plancheck.params import PARAMETERS
from plancheck.profile import ProfileError, load_profile
from plancheck.profile.models import Profile
from plancheck.results import Collector
from plancheck.terminal import QuietTracebacks, write_summary
from plancheck.waivers import Waiver, WaiverError, check_controls, expired_waivers, find_waiver, load_waivers
# the run's results and reports (re-exported: fixtures and tests import them from here)
from plancheck.run_results import (_finish_reports, _gate, _write, _write_or_say, coverage,  # noqa: F401
                                   host_summary, max_skipped)

STATE = pytest.StashKey["RunState"]()
CHECK = pytest.StashKey[Check]()


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
        self.worker_sources: list[dict[str, Any]] = []  # per-source timings from xdist workers
        self.worker_accounts: list[list[dict[str, Any]]] = []  # the audit's own accounts, as workers saw them
        self.fleet: list[fleet.Member] = []  # target.fleet's hosts (empty: the single target)
        self.host_of: dict[str, str] = {}  # nodeid -> fleet host, for the per-host checks
        # pytest's own failure section looks each failure's teardown up among all reports: quadratic,
        # 20 s for 1,000 failures among 12,000 checks. Unless --tb is given, the audit lists its
        # failures itself, one line each, and keeps only the unexpected tracebacks (a bug in a check).
        self.lists_failures = config.option.tbstyle == "auto"
        self.tracebacks: list[tuple[str, str]] = []

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
    g.addoption("--max-skipped", dest="plancheck_max_skipped", default="50%",
                help="exit non-zero when more checks than this observed nothing (skipped): a count or a "
                     "percentage of all checks (default: 50%%)")
    g.addoption("--reports-dir", dest="plancheck_reports_dir", default=None,
                help="where run reports go (default: <rootdir>/reports)")
    g.addoption("--restore-drill", dest="plancheck_restore_drill", action="store_true",
                help="also run the backup restore drill (same as -m restore_drill; opt-in: slow, needs Docker)")
    g.addoption("--alert-drill", dest="plancheck_alert_drill", action="store_true",
                help="also run the alert drill: post one test alert to Alertmanager and see it delivered "
                     "(same as -m alert_drill; opt-in: it writes one self-ending alert)")
    g.addoption("--lang", dest="plancheck_lang", default=None, choices=["ko", "en"],
                help="language of report.html (default: the profile's report_language, else en)")
    g.addoption("--sarif", dest="plancheck_sarif", default=None,
                help="also write the findings as SARIF 2.1.0 to this file")
    g.addoption("--prom-textfile", dest="plancheck_prom_textfile", default=None,
                help="also write the run as Prometheus metrics (node-exporter textfile format) to this file")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "control(id): the plancheck control a check implements")
    config.addinivalue_line("markers", "restore_drill: the backup restore drill (slow; opt-in for prod)")
    config.addinivalue_line("markers", "alert_drill: the alert delivery drill (posts a test alert; opt-in)")
    config.addinivalue_line("markers", "per_host: a host-level control: run once per host of target.fleet")
    if not config.getoption("plancheck_profile"):
        return
    state = RunState(config)
    config.stash[STATE] = state
    root = Path(config.rootpath)
    try:
        state.profile = load_profile(state.profile_name, root / "profiles")
        if config.getoption("plancheck_waivers"):
            state.waivers = load_waivers(Path(config.getoption("plancheck_waivers")))
            _check_waiver_controls(state.waivers, config.getoption("plancheck_waivers"))
    except (ProfileError, WaiverError) as e:
        state.errors = e.lines
        if not state.is_worker:
            _write_or_say(state, exit_status=4)
        raise pytest.UsageError("\n".join(e.lines)) from None
    if state.profile.target.fleet is not None:  # type: ignore[union-attr]
        try:
            state.fleet = fleet.members(state.profile, root)  # type: ignore[arg-type]
        except fleet.FleetError as e:
            state.errors = [str(e)]
            if not state.is_worker:
                _write_or_say(state, exit_status=4)
            raise pytest.UsageError(str(e)) from None
    config.pluginmanager.register(_Recorder(state), f"plancheck-recorder-{id(state)}")
    if state.lists_failures and not state.is_worker:
        config.pluginmanager.register(QuietTracebacks(), f"plancheck-quiet-tracebacks-{id(state)}")
    ctx = Context(profile=state.profile, root=root, mode=state.mode)  # type: ignore[arg-type]
    for marker, env in DRILLS.items():  # a drill's source runs only when asked for
        if drill_wanted(config, marker):
            ctx.env[env] = "1"
    facts_file = config.getoption("plancheck_facts")
    try:
        state.store = FactStore.from_recording(ctx, Path(facts_file)) if facts_file else FactStore(ctx)
    except FactError as e:
        state.errors = [str(e)]
        if not state.is_worker:
            _write_or_say(state, exit_status=4)
        raise pytest.UsageError(str(e)) from None
    _freeze_gc(config)


def _freeze_gc(config: pytest.Config) -> None:
    """Move every object alive now (modules, the profile, the collected checks, the gathered facts)
    out of the cyclic garbage collector's reach for the rest of the run (`gc.freeze`): its full
    collections otherwise walk them all again and again, ~45 us per check of collection and run.
    Done after loading and again after collection; undone when the run's config is cleaned up, so
    a process that runs audits in-process (the suite's own tests) collects as before."""
    if not config.stash.get(_GC_FROZEN, False):
        config.stash[_GC_FROZEN] = True
        config.add_cleanup(gc.unfreeze)
    gc.freeze()


_GC_FROZEN = pytest.StashKey[bool]()


def _state(config: pytest.Config) -> Optional[RunState]:
    return config.stash.get(STATE, None)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    state = _state(metafunc.config)
    if state and state.fleet and fleet.HOST_PARAM in metafunc.fixturenames \
            and metafunc.definition.get_closest_marker("per_host"):
        # a host-level control of a fleet: once per host, the host first in the id ([host=fleet-1-...])
        metafunc.parametrize(fleet.HOST_PARAM, [m.name for m in state.fleet],
                             ids=[f"{fleet.HOST_ID}{m.name}" for m in state.fleet], scope="session")
    for argname, fn in PARAMETERS.items():
        if argname not in metafunc.fixturenames:
            continue
        items = list(fn(state.profile)) if state and state.profile else []
        metafunc.parametrize(argname, [v for _, v in items], ids=[i for i, _ in items])


# controls that act on the platform (marker -> the variable that lets their source run): opt-in
DRILLS = {"restore_drill": "PLANCHECK_RESTORE_DRILL", "alert_drill": "PLANCHECK_ALERT_DRILL"}


def drill_wanted(config: pytest.Config, marker: str) -> bool:
    """A drill (a control that acts on the platform) runs only when asked for: its option or -m."""
    expr = config.getoption("markexpr", "") or ""
    return bool(config.getoption(f"plancheck_{marker}", False)) or (
        marker in expr and f"not {marker}" not in expr)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for marker in DRILLS:  # drills are opt-in: deselected unless asked for
        if drill_wanted(config, marker):
            continue
        drill = [i for i in items if i.get_closest_marker(marker) and i.get_closest_marker("control")]
        if drill:
            config.hook.pytest_deselected(items=drill)
            items[:] = [i for i in items if i not in drill]
    if _state(config) is not None:
        return
    skip = pytest.mark.skip(reason="no --profile given: plancheck controls need a profile")
    for item in items:
        if item.get_closest_marker("control"):
            item.add_marker(skip)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Start gathering every source the selected checks need, concurrently, before the first check
    (each xdist worker for itself; the controller runs no checks and collects none). Checks then
    read the store, waiting only for a source still being read; in a live run without xdist the
    checks on the slowest sources go last, so the others run while those still read."""
    state = _state(session.config)
    if state is None:
        return
    if state.store is not None and not session.config.option.collectonly and gathering.enabled():
        names = gathering.needed(session.items)
        if state.is_worker and state.fleet:
            # a fleet under xdist: each worker reads the hosts it is sent (FleetScheduling keeps a host's
            # checks on one worker), when their first check runs: every host is read once in the run
            names = [n for n in names if fleet.split(n)[1] is None]
        if gathering.spawn_safely_from_threads():
            gathering.start(state.store, names)  # checks run while the slower sources still read
            if state.mode == "live" and not state.is_worker and state.store.recorded is None:
                # xdist workers keep the collected order (the controller compares their collections)
                session.items[:] = gathering.run_order(session.items)
        else:
            gathering.prefetch(state.store, names)  # every source first, then the checks
    _freeze_gc(session.config)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist with a fleet (`-n N`, default `--dist load`): all checks of one host go to one
    worker, which reads that host once; hosts spread over the workers."""
    state = _state(config)
    if state is None or not state.fleet or config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    names = sorted((m.name for m in state.fleet), key=len, reverse=True)

    class FleetScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            for name in names:
                tag = f"[{fleet.HOST_ID}{name}"
                i = nodeid.find(tag)
                if i >= 0 and nodeid[i + len(tag):i + len(tag) + 1] in ("]", "-"):
                    return f"{fleet.HOST_ID}{name}"
            return nodeid.rsplit("::", 1)[0]

    return FleetScheduling(config, log)


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
def fleet_member() -> Optional[str]:
    """The fleet host a per-host check reads (parametrized by pytest_generate_tests); None: the single
    target (no target.fleet, or a check that is not per host)."""
    return None


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
        not_here(str(e))


@pytest.fixture
def check(request: pytest.FixtureRequest) -> Check:
    marker = request.node.get_closest_marker("control")
    ctl = CATALOG.get(marker.args[0]) if marker else None
    state = _state(request.config)
    chk = Check(request.node, ctl, mode=state.mode if state else "live")  # type: ignore[arg-type]
    request.node.stash[CHECK] = chk
    return chk


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("control")
    if not marker or marker.args[0] not in CATALOG:
        return
    ctl = CATALOG[marker.args[0]]
    state = _state(item.config)
    profile = state.profile if state else None
    params = dict(getattr(getattr(item, "callspec", None), "params", {}) or {})
    item.user_properties.extend(ctl.record_properties)
    item.user_properties.append(
        ("basis", basis(ctl.reads, params, profile.overrides, profile.additions) if profile else ""))
    host = fleet.host_of(params)
    if host:
        item.user_properties.append(("host", host))


@pytest.hookimpl(wrapper=True)  # new-style: cheaper per call than an old-style hookwrapper
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # type: ignore[no-untyped-def]
    report: pytest.TestReport = yield
    state = _state(item.config)
    if call.excinfo is not None and call.excinfo.errisinstance((ControlFailure, FactError)):
        report.longrepr = str(call.excinfo.value)  # one line, not a traceback
    if call.excinfo is not None and call.excinfo.errisinstance(NotHere):
        report.user_properties.append(("skip_kind", "here"))  # not observable on this target or in this mode
    if call.excinfo is not None and call.excinfo.errisinstance(FactError):
        # the check could not judge (a fact that should have been observed was not): an error
        report.user_properties.append(("verdict", "error"))
    marker = item.get_closest_marker("control") if call.when == "call" and report.passed else None
    if marker:
        chk = item.stash.get(CHECK, None)
        if chk is None or chk.compared == 0:
            # a pass is evidence: a control that compared nothing observed nothing
            ctl_id = marker.args[0]
            report.outcome = "failed"
            report.longrepr = f"{ctl_id}: no comparison made: the check returned without comparing an observed value"
            report.user_properties.append(("verdict", "error"))
    if state is None or report.outcome != "failed" or call.when != "call":
        return report
    if ("verdict", "error") in report.user_properties:
        return report  # a check that could not judge is not a finding a waiver can accept
    ctl = dict(item.user_properties).get("control", "")
    waiver = find_waiver(state.waivers, ctl, item.nodeid)
    if waiver is None:
        return report
    today = dt.datetime.now(dt.timezone.utc).date()
    info = {"justification": waiver.justification, "approver": waiver.approver,
            "expires": waiver.expires.isoformat(), "expired": waiver.expired(today)}
    report.user_properties.append(("waiver", info))
    if not info["expired"]:
        report.outcome = "skipped"
        report.wasxfail = f"waived until {info['expires']} by {waiver.approver}: {waiver.justification}"
    return report


class _Recorder:
    """Per-session plugin object (not a module global), so a nested run (the suite's own tests run
    audits in-process) never mixes its records with the outer one's."""

    def __init__(self, state: RunState):
        self.state = state

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Optional[pytest.TestReport]:
        """A finding or a source's error is reported as its one line (see the hook wrapper above): its
        report is made here without rendering a traceback, which parses the check's source file for
        each failure and was most of a run in which a source could not be read."""
        if not isinstance(call.excinfo, pytest.ExceptionInfo) or \
                not call.excinfo.errisinstance((ControlFailure, FactError)):
            return None  # pytest's own report
        sections = [(f"Captured {key} {rwhen}", content) for rwhen, key, content in item._report_sections]
        return pytest.TestReport(item.nodeid, item.location, dict.fromkeys(item.keywords, 1), "failed",
                                 str(call.excinfo.value), call.when, sections, call.duration, call.start,  # type: ignore[arg-type]
                                 call.stop, user_properties=item.user_properties)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """An audit that ran no hypothesis test: hypothesis's pytest plugin would import all of
        hypothesis in its terminal summary (0.3 s and more, most of a static audit's tail) only to find
        nothing to say. Unplugged before the summary; a run that imported hypothesis keeps it."""
        if "hypothesis" not in sys.modules:
            pm = session.config.pluginmanager
            plugin = pm.get_plugin("hypothesispytest")
            if plugin is not None:
                pm.unregister(plugin)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """pytest-xdist: a worker's per-source timings (it gathered for itself)."""
        sources = getattr(node, "workeroutput", {}).get("plancheck_sources")
        if sources:
            self.state.worker_sources.append(sources)
        accounts = getattr(node, "workeroutput", {}).get("plancheck_audit_accounts")
        if accounts:
            self.state.worker_accounts.append(accounts)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # runs on the controller under xdist too, with user_properties carried over from workers
        if not self.state.is_worker:
            host = self.state.collector.add(report).get("host")
            if host:
                self.state.host_of[report.nodeid] = str(host)
            if report.failed and self.state.lists_failures and not isinstance(report.longrepr, str):
                self.state.tracebacks.append((f"{report.nodeid} ({report.when})", report.longreprtext))

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """One line per expired waiver (it no longer waives anything), after the run's summary."""
        if self.state.is_worker:
            return
        for w in expired_waivers(self.state.waivers):
            target = " ".join(x for x in (w.control, w.test) if x)
            terminalreporter.write_line(f"waiver expired on {w.expires.isoformat()}: {target} "
                                        f"(approved by {w.approver}): no longer waives")


def _check_waiver_controls(waivers: list[Waiver], path: str) -> None:
    """Waivers name controls of the catalog: all checks modules are imported to know them all
    (collection imports them anyway); if one cannot be imported, collection reports it instead."""
    if not any(w.control not in (None, "*") for w in waivers):
        return
    try:
        from plancheck.catalog import load_all_checks

        load_all_checks()
    except Exception:
        return
    check_controls(waivers, CATALOG, path)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = _state(session.config)
    if state is not None and state.is_worker and state.store is not None:
        session.config.workeroutput["plancheck_sources"] = dict(state.store.timings)  # type: ignore[attr-defined]
        session.config.workeroutput["plancheck_audit_accounts"] = \
            audit_accounts(state.store, state.profile)  # type: ignore[attr-defined]
    if state is None or state.is_worker or session.config.option.collectonly:
        return
    records = state.collector.sorted()
    if state.store is not None:
        dump = session.config.getoption("plancheck_dump_facts")
        if dump:
            Path(dump).write_text(json.dumps(state.store.dump(), indent=1, ensure_ascii=False))
        state.notes.extend(state.store.notes)
    if exitstatus in (0, 1, 5):
        # no check at all (exit 5) observed nothing either: the gate says so instead of passing
        session.exitstatus = _gate(state, records) if records else 1
    _finish_reports(state, session)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = _state(config)
    if state is None or state.is_worker or not hasattr(state, "report_dir"):
        return
    write_summary(terminalreporter, state, state.collector.sorted())
