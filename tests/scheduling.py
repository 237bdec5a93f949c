"""Test distribution over xdist workers: the tests of a shared expensive database run in one.

The session's `legacy` fixture migrates each wb-crm state once per test process, and
tests/test_takeover_live.py generates the medium database once per process; spread over two
workers, each worker builds them again. Their modules form one work unit each, every other test
is scheduled alone, as `--dist load` would. (xdist's `--dist loadgroup` does this from marks,
but under pytest 9 the group it writes into a test's id never reaches the scheduler.)
"""
from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

# Module: the expensive fixture its tests share (tests/test_scheduling.py checks the list).
SHARED_FIXTURE_MODULES = {
    "tests/test_legacy_migration.py": "legacy",
    "tests/test_legacy_keys.py": "legacy",
    "tests/test_template_migration.py": "legacy",
    "tests/test_takeover_live.py": "medium",
}


def module_of(nodeid: str) -> str:
    """The test module's path in a test id ("tests/test_x.py::test_y[z]")."""
    return nodeid.split("::", 1)[0]


class SharedFixtureScheduling(LoadScopeScheduling):
    """Load scheduling, test by test, except that a shared fixture's modules go together."""

    def _split_scope(self, nodeid: str) -> str:
        return SHARED_FIXTURE_MODULES.get(module_of(nodeid), nodeid)
