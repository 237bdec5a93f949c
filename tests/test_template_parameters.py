"""Template parameters are checked against the stored components before any call to Meta."""
from __future__ import annotations

from typing import Any

import pytest

from crm.models import Template
from crm.whatsapp.templates import TemplateParameterError, validate_parameters

ORDER_UPDATE = [
    {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
    {"type": "BODY", "text": "Hi {{1}}, your order of {{2}} ships on {{3}}."},
    {"type": "FOOTER", "text": "Reply STOP to opt out"},
    {"type": "BUTTONS", "buttons": [
        {"type": "URL", "text": "Track", "url": "https://shop.example/track/{{1}}"},
        {"type": "QUICK_REPLY", "text": "Thanks"},
    ]},
]


def _template(components: list[dict], name: str = "order_update") -> Template:
    return Template(template_name=name, language="en_US",
                    template_body={"name": name, "components": components}, template_vars={})


def _text(value: str) -> dict:
    return {"type": "text", "text": value}


def _problems(template: Template, components: Any) -> list[str]:
    with pytest.raises(TemplateParameterError) as raised:
        validate_parameters(template, components)
    assert raised.value.detail["template"] == raised.value.problems  # a DRF 400 body
    assert raised.value.status_code == 400
    return raised.value.problems


GOOD = [
    {"type": "header", "parameters": [_text("A-17")]},
    {"type": "body", "parameters": [
        _text("Asha"),
        {"type": "currency", "currency": {"fallback_value": "$12.50", "code": "USD",
                                          "amount_1000": 12500}},
        {"type": "date_time", "date_time": {"fallback_value": "May 2"}},
    ]},
    {"type": "button", "sub_type": "url", "index": "0", "parameters": [_text("A-17")]},
    {"type": "button", "sub_type": "quick_reply", "index": 1,
     "parameters": [{"type": "payload", "payload": "thanks"}]},
]


def test_matching_parameters_pass() -> None:
    assert validate_parameters(_template(ORDER_UPDATE), GOOD) is None


def test_a_template_without_placeholders_takes_no_components() -> None:
    hello = _template([{"type": "BODY", "text": "Hello World"}], "hello_world")
    assert validate_parameters(hello, []) is None
    assert validate_parameters(hello, None) is None
    assert _problems(hello, [{"type": "body", "parameters": [_text("x")]}]) == [
        "hello_world (en_US): The body has 0 placeholder(s) (none); 1 parameter(s) were sent."
    ]


def test_wrong_counts_are_each_named() -> None:
    sent = [GOOD[0], {"type": "body", "parameters": [_text("Asha")]}]
    assert _problems(_template(ORDER_UPDATE), sent) == [
        "order_update (en_US): The body has 3 placeholder(s) ({{1}}, {{2}}, {{3}}); "
        "1 parameter(s) were sent.",
        "order_update (en_US): button 0: its URL has a placeholder; send a button component "
        "with sub_type 'url' and index 0.",
    ]


def test_formats_are_checked() -> None:
    sent = [
        {"type": "header", "parameters": [_text("line\nbreak")]},
        {"type": "body", "parameters": [
            {"type": "text", "text": ""},
            {"type": "currency", "currency": {"fallback_value": "12", "code": "usd"}},
            {"type": "image", "image": {"id": "1"}},
        ]},
        {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": []},
        {"type": "button", "sub_type": "url", "index": "7", "parameters": []},
        {"type": "footer", "parameters": []},
    ]
    problems = [p.removeprefix("order_update (en_US): ") for p in
                _problems(_template(ORDER_UPDATE), sent)]
    assert problems == [
        "Component type 'footer' is not one Meta takes in a template message: use header, "
        "body or button.",
        "header parameter 1: Meta refuses newlines, tabs and more than four spaces in a row "
        "in parameters.",
        "body parameter 1: 'text' must be a non-empty string.",
        "body parameter 2: currency needs a 3-letter 'code' (ISO 4217) and an integer "
        "'amount_1000' (the amount times 1000).",
        "body parameter 3: type must be one of currency, date_time, text.",
        "button 0: the template's button is url; sub_type 'quick_reply' does not fit it.",
        "button 7: the template has 2 button(s).",
    ]


def test_media_headers_need_media_of_their_format() -> None:
    template = _template([{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "Hi"}])
    image = {"type": "header", "parameters": [{"type": "image", "image": {"id": "4490"}}]}
    assert validate_parameters(template, [image]) is None
    assert _problems(template, []) == [
        "order_update (en_US): The template's header is image: send a header component with "
        "one parameter of type 'image'."
    ]
    empty = {"type": "header", "parameters": [{"type": "image", "image": {}}]}
    assert _problems(template, [empty])[0].endswith(
        "The header image needs an 'id' (uploaded media) or a 'link'.")


def test_named_parameters_and_length_limits() -> None:
    template = _template([{"type": "BODY", "text": "Dear {{first_name}}, " + "x" * 1000}])
    named = {"type": "text", "text": "Ann", "parameter_name": "first_name"}
    assert validate_parameters(template, [{"type": "body", "parameters": [named]}]) is None
    unnamed = {"type": "body", "parameters": [_text("Ann")]}
    assert "'parameter_name' must be one of ({{first_name}})" in _problems(template, [unnamed])[0]
    long = {"type": "body", "parameters": [{**named, "text": "A" * 30}]}
    assert _problems(template, [long]) == [
        "order_update (en_US): The body would be 1037 characters with these parameters; Meta "
        "allows 1024."
    ]


def test_malformed_requests_are_problems_not_crashes() -> None:
    template = _template(ORDER_UPDATE)
    assert _problems(template, {"type": "body"}) == [
        "order_update (en_US): components must be a list of {type, parameters} objects.",
        "order_update (en_US): The header has 1 placeholder(s) ({{1}}); 0 parameter(s) were "
        "sent.",
        "order_update (en_US): The body has 3 placeholder(s) ({{1}}, {{2}}, {{3}}); 0 "
        "parameter(s) were sent.",
        "order_update (en_US): button 0: its URL has a placeholder; send a button component "
        "with sub_type 'url' and index 0.",
    ]
    assert "components[0] must be an object" in _problems(template, ["body"])[0]
    broken = [{"type": "body", "parameters": "Asha"}]
    assert "body: parameters must be a list of objects." in _problems(template, broken)[1]
