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
# Crossing organizations, or SQL the scoped manager never sees.
BYPASSES = re.compile(r"\bunscoped\(\)|\.cursor\(\)|\.raw\(|\.extra\(")
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
