"""Automation's refusals: a rule that cannot be saved, naming the field path to fix."""
from __future__ import annotations


class InvalidRule(ValueError):
    """A rule's trigger, conditions or actions are malformed at `path` (such as trigger.match)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def check_keys(value: object, path: str, allowed: set[str], required: set[str] = frozenset()
               ) -> dict:
    """`value` as an object with only `allowed` keys and every `required` one."""
    if not isinstance(value, dict):
        raise InvalidRule(path, "give a JSON object.")
    for key in sorted(set(value) - allowed):
        raise InvalidRule(f"{path}.{key}", f"unknown field; use {', '.join(sorted(allowed))}.")
    for key in sorted(required - set(value)):
        raise InvalidRule(f"{path}.{key}", "required.")
    return value


def check_int(value: object, path: str, low: int, high: int) -> int:
    """`value` as a whole number from `low` to `high`."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRule(path, f"give a whole number from {low} to {high}.")
    return value


def check_strings(value: object, path: str, *, most: int = 50, longest: int = 200) -> list[str]:
    """`value` as a list of 1 to `most` non-blank strings."""
    if not isinstance(value, list) or not 1 <= len(value) <= most:
        raise InvalidRule(path, f"give a list of 1 to {most} texts.")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip() or len(item) > longest:
            raise InvalidRule(f"{path}[{index}]", f"give a non-blank text of at most {longest} "
                              "characters.")
    return value
