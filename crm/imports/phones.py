"""Phone numbers as WhatsApp ids: `phonenumbers` parses, in the organization's default country."""
from __future__ import annotations

from typing import Any

import phonenumbers

from crm.imports.errors import InvalidCountry


def check_country(value: Any) -> str:
    """The upper-case ISO 3166 alpha-2 code, or InvalidCountry saying what is accepted."""
    code = value.strip().upper() if isinstance(value, str) else ""
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidCountry(
            f"{str(value)[:20]!r} is not a country code: use ISO 3166 alpha-2, such as IN, AE "
            "or US.")
    return code


def _valid(text: str, country: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, country)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def wa_id(raw: str, country: str) -> tuple[str | None, str | None]:
    """(digits with the country code, None) for a valid number, else (None, the reason)."""
    text = raw.strip()
    if not text:
        return None, "no phone number"
    number = _valid(text, country)
    if number is None and text.isdigit():
        number = _valid("+" + text, None)  # a WhatsApp id: the country code without its "+"
    if number is None:
        return None, f"{text[:40]!r} is not a valid phone number (read in {country})"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:], None
