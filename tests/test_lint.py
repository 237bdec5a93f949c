"""Lint rules: every way around the tenant layer is visible and says why."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(
    path for folder in ("crm", "tenancy") for path in (ROOT / folder).rglob("*.py")
    if "migrations" not in path.parts
)
# Crossing organizations, SQL the scoped manager never sees, or writes its guards never see
# (an upsert's conflict target, a raw save).
BYPASSES = re.compile(
    r"\bunscoped\(\)|\.cursor\(\)|\.raw\(|\.extra\(|\bRawSQL\(|\bupdate_conflicts\b"
    r"|\bsave_base\("
)
STRINGS = re.compile(r"\"[^\"]*\"|'[^']*'")
EXEMPT = {ROOT / "tenancy/context.py"}  # defines unscoped()


def _bypasses() -> list[tuple[Path, int, list[str]]]:
    found = []
    for path in SOURCES:
        if path in EXEMPT:
            continue
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            code = STRINGS.sub('""', line).split("#", 1)[0]
            if BYPASSES.search(code) and not code.lstrip().startswith(("def ", "from ", "import ")):
                found.append((path, number, lines))
    return found


@pytest.mark.parametrize(("path", "number", "lines"), _bypasses(),
                         ids=[f"{p.relative_to(ROOT)}:{n + 1}" for p, n, _ in _bypasses()])
def test_every_bypass_of_the_tenant_layer_says_why(path: Path, number: int,
                                                   lines: list[str]) -> None:
    """A comment on the line or just above it, or the enclosing docstring, gives the reason."""
    window = lines[max(0, number - 4): number + 1]
    commented = any("#" in line for line in window)
    documented = any('"""' in line for line in lines[max(0, number - 12): number])
    assert commented or documented, (
        f"{path.relative_to(ROOT)}:{number + 1} goes around the tenant layer without saying why: "
        "add a comment above it."
    )


@pytest.mark.parametrize("line", [
    "with unscoped():", "connection.cursor()", "Customer.objects.raw(sql)",
    "qs.extra(where=[sql])", "qs.annotate(x=RawSQL(sql, []))",
    "Model.objects.bulk_create(rows, update_conflicts=True)", "obj.save_base(raw=True)",
])
def test_each_bypass_is_recognised(line: str) -> None:
    """Every form the rule names is flagged, not only the first ones it knew."""
    assert BYPASSES.search(line)
