"""What an audit writes to the terminal after its checks: the failed and errored checks one line
each, the tracebacks no check expected, then the run's counts, coverage, notes and where the reports
are. The reports (plancheck.report) hold the same and more; this is what an operator reads first."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from plancheck.results import Record, summarize
from plancheck.run_results import coverage, host_summary

if TYPE_CHECKING:
    from plancheck.plugin import RunState

OUTCOMES = ("passed", "failed", "waived", "skipped", "error")


class QuietTracebacks:
    """Around pytest's summary: its failure sections are skipped (tbstyle "no" while it writes them)
    when the audit lists failures itself. pytest's section looks each failure's teardown report up
    among all reports, which is quadratic (20 s for 1,000 failures among 12,000 checks); the reports
    made during the run keep their tracebacks."""

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, config: pytest.Config):  # type: ignore[no-untyped-def]
        config.option.tbstyle = "no"
        try:
            return (yield)
        finally:
            config.option.tbstyle = "auto"


def list_failures(terminalreporter: Any, state: RunState, records: list[Record]) -> None:
    """One line per failed or errored check (its control's message names the plan section, expected,
    found and the fix); then the tracebacks of exceptions no check expected, in full."""
    bad = [r for r in records if r.outcome in ("failed", "error")]
    if bad:
        terminalreporter.write_sep("=", "FAILURES AND ERRORS")
        for r in bad:
            terminalreporter.write_line(f"{r.outcome.upper()} {r.nodeid}: {r.message}")
    for where, text in state.tracebacks:
        terminalreporter.write_sep("_", where)
        terminalreporter.write_line(text)


def write_summary(terminalreporter: Any, state: RunState, records: list[Record]) -> None:
    if state.lists_failures:
        list_failures(terminalreporter, state, records)
    counts = summarize(records)
    terminalreporter.write_sep("-", "plancheck")
    terminalreporter.write_line(
        f"profile {state.profile_name} ({state.mode}{', recorded facts' if state.recorded else ''}): "
        f"{counts['total']} checks, " + ", ".join(f"{counts[k]} {k}" for k in OUTCOMES))
    cov = coverage(state, records)
    terminalreporter.write_line(("coverage too low: " if cov["too_little"] else "coverage: ") + cov["line"]
                                + (f" (--max-skipped allows {cov['max_skipped']})" if cov["too_little"] else ""))
    for name, h in (host_summary(state, records) if state.fleet else {}).items():
        terminalreporter.write_line(f"host {name} ({h['group']}): {h['total']} checks, "
                                    + ", ".join(f"{h[k]} {k}" for k in OUTCOMES))
    for note in state.notes:
        terminalreporter.write_line(f"note: {note}")
    terminalreporter.write_line(f"reports: {state.report_dir}/{{junit.xml,report.html,results.json,summary.json}}")
