"""The modules scheduled together are exactly the modules using a shared expensive fixture."""
from __future__ import annotations

import pytest

from tests.scheduling import SHARED_FIXTURE_MODULES, SharedFixtureScheduling, module_of


def test_every_test_of_a_shared_fixture_is_in_its_modules_work_unit(
    request: pytest.FixtureRequest,
) -> None:
    shared = set(SHARED_FIXTURE_MODULES.values())
    used: dict[str, set[str]] = {}
    for item in request.session.items:
        module = module_of(item.nodeid)
        for fixture in shared & set(getattr(item, "fixturenames", ())):
            assert SHARED_FIXTURE_MODULES.get(module) == fixture, (
                f"{item.nodeid} uses `{fixture}`: add {module} to "
                "tests.scheduling.SHARED_FIXTURE_MODULES")
            used.setdefault(module, set()).add(fixture)
    collected = {module_of(item.nodeid) for item in request.session.items}
    for module, fixture in SHARED_FIXTURE_MODULES.items():
        if module in collected:
            assert fixture in used.get(module, set()), f"{module} no longer uses `{fixture}`"


def test_a_shared_fixtures_modules_are_one_work_unit_and_other_tests_their_own() -> None:
    scope = SharedFixtureScheduling._split_scope
    assert scope(None, "tests/test_legacy_keys.py::test_x[pre_tenancy]") == "legacy"
    assert scope(None, "tests/test_template_migration.py::test_y") == "legacy"
    assert scope(None, "tests/test_takeover_live.py::test_z") == "medium"
    assert scope(None, "tests/test_api.py::test_list[customers]") == (
        "tests/test_api.py::test_list[customers]")
