"""An organization's time zone and weekly business hours: checked on save, read by `is_open`."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm.models import Organization

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order
HH_MM = re.compile(r"([01]\d|2[0-3]):[0-5]\d|24:00")


class InvalidHours(ValueError):
    """A time zone or business hours that cannot be used; the message says how to fix it."""


def check_time_zone(name: Any) -> str:
    """`name` if it is an IANA time zone name (Asia/Kolkata), else InvalidHours."""
    if not isinstance(name, str) or not name or len(name) > 64:
        raise InvalidHours("Give an IANA time zone name, such as Asia/Kolkata.")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidHours(f"{name!r} is not an IANA time zone name: use one such as "
                           "Asia/Kolkata or Europe/London.") from None
    return name


def _minutes(value: str) -> int:
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def check_business_hours(hours: Any) -> dict[str, list[list[str]]]:
    """`hours` if well formed: {} (not set), or every weekday with sorted, disjoint intervals."""
    if hours is None or hours == {}:
        return {}
    if not isinstance(hours, dict):
        raise InvalidHours('Give an object: {"mon": [["09:00", "18:00"]], ..., "sun": []}.')
    unknown = sorted(set(hours) - set(DAYS))
    if unknown:
        raise InvalidHours(f"{unknown[0]}: not a weekday; use {', '.join(DAYS)}.")
    checked: dict[str, list[list[str]]] = {}
    for day in DAYS:
        if day not in hours:
            raise InvalidHours(f"{day}: missing; give every weekday, [] for a closed day.")
        intervals = hours[day]
        if not isinstance(intervals, list):
            raise InvalidHours(f'{day}: give a list of ["HH:MM", "HH:MM"] intervals.')
        spans = []
        for index, interval in enumerate(intervals):
            where = f"{day}[{index}]"
            if not (isinstance(interval, list) and len(interval) == 2
                    and all(isinstance(v, str) and HH_MM.fullmatch(v) for v in interval)):
                raise InvalidHours(f'{where}: give ["HH:MM", "HH:MM"], such as ["09:00", '
                                   '"18:00"] (24:00 for midnight at the end).')
            start, end = (_minutes(v) for v in interval)
            if start >= end:
                raise InvalidHours(f"{where}: the start must be before the end (an interval "
                                   "past midnight is two: one each day).")
            spans.append((start, end, interval))
        spans.sort()
        for (_, end, before), (start, _, after) in zip(spans, spans[1:]):
            if start < end:
                raise InvalidHours(f"{day}: {before} and {after} overlap; merge them.")
        checked[day] = [list(interval) for _, _, interval in spans]
    return checked


def is_open(organization: Organization, at: datetime) -> bool:
    """Whether `at` falls in the organization's business hours (its time zone); always open
    while its hours are not set."""
    if not organization.business_hours:
        return True
    local = at.astimezone(ZoneInfo(organization.time_zone))
    minute = local.hour * 60 + local.minute
    intervals = organization.business_hours.get(DAYS[local.weekday()], [])
    return any(_minutes(start) <= minute < _minutes(end) for start, end in intervals)
