"""The suite's own tests. Hypothesis profiles keep property tests quick in CI."""
import pytest
from hypothesis import settings

from tests.audit import ReferenceRun, load_good_facts, reference_run

settings.register_profile("ci", max_examples=200, deadline=None)
settings.load_profile("ci")


@pytest.fixture(scope="session")
def good_baseline(tmp_path_factory: pytest.TempPathFactory) -> ReferenceRun:
    """The whole audit of profile `baseline` over the recorded compliant facts (tests/data/good), run
    once per test process and shared by the tests that only read it or compare a mutation with it."""
    return reference_run(tmp_path_factory.mktemp("good-baseline"), "baseline", load_good_facts())
