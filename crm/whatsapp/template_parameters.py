"""Checks a template send request's parameters against the stored template, before Meta sees it.

Meta answers a wrong parameter count or format with errors 132000/132012 after a round trip and
counts them against the number; checked here, the caller gets every problem at once, as a 400.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from rest_framework.exceptions import ValidationError

# {{1}}, {{2}}, ... (positional) or {{first_name}} (named; lower case, digits, underscores).
PLACEHOLDER = re.compile(r"\{\{\s*([a-z0-9_]+)\s*\}\}")
# Meta refuses text parameters with newlines, tabs or more than four consecutive spaces.
BAD_TEXT = re.compile(r"[\n\t]| {5,}")
# Meta's limits on the hydrated texts.
HEADER_TEXT_LIMIT = 60
BODY_TEXT_LIMIT = 1024
MEDIA_FORMATS = {"IMAGE": "image", "VIDEO": "video", "DOCUMENT": "document"}
# Request button sub_type -> the template button types it may fill, and its parameter type.
BUTTON_PARAMETERS = {
    "quick_reply": ({"QUICK_REPLY"}, "payload"),
    "url": ({"URL", "OTP"}, "text"),
    "copy_code": ({"COPY_CODE", "OTP"}, "coupon_code"),
    "flow": ({"FLOW"}, "action"),
}
TEXT_PARAMETER_TYPES = {"text", "currency", "date_time"}


class TemplateParameterError(ValidationError):
    """The parameters do not fit the template: a 400 listing every problem, before any call."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__({"template": problems})
        self.problems = problems


class StoredTemplate(Protocol):
    """What the check reads of a template (crm.models.Template fits)."""

    template_name: str
    language: str

    @property
    def components(self) -> list[dict]: ...


def placeholders(text: str | None) -> list[str]:
    """The distinct placeholders of `text`, in order of first appearance."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text or "")))


def validate_parameters(template: StoredTemplate, components: Any) -> None:
    """Raise TemplateParameterError unless `components` (the send request's template components,
    as Meta takes them) fill exactly the placeholders of `template`'s header, body and buttons."""
    problems: list[str] = []
    given = _by_type(components, problems)
    stored = {str(c.get("type", "")).upper(): c for c in template.components if isinstance(c, dict)}
    for kind in sorted(set(given) - {"HEADER", "BODY", "BUTTON"}):
        problems.append(f"Component type {kind.lower()!r} is not one Meta takes in a template "
                        "message: use header, body or button.")
    header = given.get("HEADER", [])
    _check_header(stored.get("HEADER"), header[0] if header else None, problems)
    body = given.get("BODY", [])
    _check_text(stored.get("BODY"), body[0] if body else None, "body", BODY_TEXT_LIMIT, problems)
    for kind in ("HEADER", "BODY"):
        if len(given.get(kind, [])) > 1:
            problems.append(f"Send one {kind.lower()} component, not {len(given[kind])}.")
    buttons = stored.get("BUTTONS", {}).get("buttons") or []
    _check_buttons(buttons, given.get("BUTTON", []), problems)
    if problems:
        raise TemplateParameterError(
            [f"{template.template_name} ({template.language}): {p}" for p in problems]
        )


def _by_type(components: Any, problems: list[str]) -> dict[str, list[dict]]:
    if components is None:
        return {}
    if not isinstance(components, list):
        problems.append("components must be a list of {type, parameters} objects.")
        return {}
    grouped: dict[str, list[dict]] = {}
    for i, component in enumerate(components):
        if not isinstance(component, dict) or not isinstance(component.get("type"), str):
            problems.append(f"components[{i}] must be an object with a string 'type'.")
            continue
        grouped.setdefault(component["type"].upper(), []).append(component)
    return grouped


def _parameters(component: Mapping[str, Any] | None, where: str,
                problems: list[str]) -> list[dict] | None:
    if component is None:
        return []
    parameters = component.get("parameters", [])
    if not isinstance(parameters, list) or not all(isinstance(p, dict) for p in parameters):
        problems.append(f"{where}: parameters must be a list of objects.")
        return None
    return parameters


def _check_header(stored: Mapping[str, Any] | None, given: Mapping[str, Any] | None,
                  problems: list[str]) -> None:
    parameters = _parameters(given, "header", problems)
    if parameters is None:
        return
    fmt = str((stored or {}).get("format", "TEXT")).upper()
    if stored is None or (fmt == "TEXT" and not placeholders(stored.get("text"))):
        if parameters:
            problems.append("The template's header takes no parameters: remove the header "
                            "component.")
        return
    if fmt == "TEXT":
        _check_text(stored, given, "header", HEADER_TEXT_LIMIT, problems)
        return
    expected = MEDIA_FORMATS.get(fmt, fmt.lower())
    if len(parameters) != 1 or parameters[0].get("type") != expected:
        problems.append(f"The template's header is {fmt.lower()}: send a header component with "
                        f"one parameter of type {expected!r}.")
        return
    media = parameters[0].get(expected)
    if expected in MEDIA_FORMATS.values() and not (
        isinstance(media, dict) and (media.get("id") or media.get("link"))
    ):
        problems.append(f"The header {expected} needs an 'id' (uploaded media) or a 'link'.")


def _check_text(stored: Mapping[str, Any] | None, given: Mapping[str, Any] | None, where: str,
                limit: int, problems: list[str]) -> None:
    """Header or body text: one parameter per placeholder, each well formed, within `limit`."""
    parameters = _parameters(given, where, problems)
    if parameters is None:
        return
    text = (stored or {}).get("text") or ""
    names = placeholders(text)
    named = bool(names) and not all(name.isdigit() for name in names)
    if len(parameters) != len(names):
        problems.append(f"The {where} has {len(names)} placeholder(s) {_list(names)}; "
                        f"{len(parameters)} parameter(s) were sent.")
        return
    values: dict[str, str] = {}
    for i, parameter in enumerate(parameters):
        value = _text_value(parameter, f"{where} parameter {i + 1}", problems)
        key = parameter.get("parameter_name") if named else str(i + 1)
        if named and key not in names:
            problems.append(f"{where} parameter {i + 1}: 'parameter_name' must be one of "
                            f"{_list(names)}.")
        elif value is not None:
            values[str(key)] = value
    if named and set(values) != set(names) and len(values) == len(parameters):
        problems.append(f"The {where} needs each of {_list(names)} once, by 'parameter_name'.")
    if not named and any(name != str(i + 1) for i, name in enumerate(sorted(names, key=int))):
        problems.append(f"The stored {where} numbers its placeholders {_list(names)}, not "
                        "1, 2, ...: sync the template again from Meta.")
    hydrated = PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), text)
    if len(hydrated) > limit:
        problems.append(f"The {where} would be {len(hydrated)} characters with these "
                        f"parameters; Meta allows {limit}.")


def _text_value(parameter: Mapping[str, Any], where: str, problems: list[str]) -> str | None:
    """The text a header or body parameter puts in place of its placeholder."""
    kind = parameter.get("type")
    if kind not in TEXT_PARAMETER_TYPES:
        problems.append(f"{where}: type must be one of {', '.join(sorted(TEXT_PARAMETER_TYPES))}.")
        return None
    if kind == "text":
        text = parameter.get("text")
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{where}: 'text' must be a non-empty string.")
            return None
        if BAD_TEXT.search(text):
            problems.append(f"{where}: Meta refuses newlines, tabs and more than four spaces "
                            "in a row in parameters.")
        return text
    value = parameter.get(kind)
    fallback = value.get("fallback_value") if isinstance(value, dict) else None
    if not isinstance(fallback, str) or not fallback:
        problems.append(f"{where}: {kind} needs a 'fallback_value' string.")
        return None
    if kind == "currency" and not (
        isinstance(value.get("code"), str) and re.fullmatch(r"[A-Z]{3}", value["code"])
        and isinstance(value.get("amount_1000"), int)
    ):
        problems.append(f"{where}: currency needs a 3-letter 'code' (ISO 4217) and an integer "
                        "'amount_1000' (the amount times 1000).")
    return fallback


def _check_buttons(stored: list[Any], given: list[dict], problems: list[str]) -> None:
    """Each button component names a template button by index and fills its placeholder."""
    filled: set[int] = set()
    for component in given:
        index = component.get("index")
        try:
            position = int(index)
        except (TypeError, ValueError):
            problems.append(f"button: 'index' must be the button's position (0 to "
                            f"{len(stored) - 1}), not {index!r}.")
            continue
        where = f"button {position}"
        if not 0 <= position < len(stored) or not isinstance(stored[position], dict):
            problems.append(f"{where}: the template has {len(stored)} button(s).")
            continue
        if position in filled:
            problems.append(f"{where}: sent twice.")
            continue
        filled.add(position)
        button_type = str(stored[position].get("type", "")).upper()
        sub_type = str(component.get("sub_type", "")).lower()
        fits, parameter_type = BUTTON_PARAMETERS.get(sub_type, (set(), ""))
        if button_type not in fits:
            problems.append(f"{where}: the template's button is {button_type.lower()}; "
                            f"sub_type {sub_type!r} does not fit it.")
            continue
        parameters = _parameters(component, where, problems)
        if parameters is None:
            continue
        if len(parameters) != 1 or parameters[0].get("type") != parameter_type or not \
                parameters[0].get(parameter_type):
            problems.append(f"{where}: send one parameter of type {parameter_type!r} with a "
                            f"non-empty {parameter_type!r}.")
    for position in _dynamic_buttons(stored):
        if position not in filled:
            problems.append(f"button {position}: its URL has a placeholder; send a button "
                            f"component with sub_type 'url' and index {position}.")


def _dynamic_buttons(stored: Iterable[Any]) -> list[int]:
    """Positions of URL buttons whose URL holds a placeholder (Meta requires their parameter)."""
    return [
        i for i, button in enumerate(stored)
        if isinstance(button, dict) and str(button.get("type", "")).upper() == "URL"
        and placeholders(button.get("url"))
    ]


def _list(names: Iterable[str]) -> str:
    shown = ", ".join(f"{{{{{n}}}}}" for n in names)
    return f"({shown})" if shown else "(none)"
