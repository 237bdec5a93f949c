"""A report's date range: local days of the organization, as UTC instants for the raw columns."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from crm.models import Organization
from crm.reports.errors import BadReportQuery
from tenancy.context import get_current_organization_id

MAX_DAYS = 366  # one request reads at most a year of daily rows
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Period:
    """The days first..last (inclusive) in the organization's time zone."""

    first: date
    last: date
    time_zone: str

    @property
    def days(self) -> list[date]:
        """Every day of the period, in order."""
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def _utc(self, day: date) -> datetime:
        local = datetime.combine(day, time.min, tzinfo=ZoneInfo(self.time_zone))
        return local.astimezone(UTC).replace(tzinfo=None)

    @property
    def start(self) -> datetime:
        """The first instant of the period, naive UTC (as the legacy columns hold it)."""
        return self._utc(self.first)

    @property
    def end(self) -> datetime:
        """The first instant after the period, naive UTC."""
        return self._utc(self.last + timedelta(days=1))


def organization_time_zone() -> str:
    """The active organization's time zone (IANA name)."""
    return Organization.objects.only("time_zone").get(pk=get_current_organization_id()).time_zone


EARLIEST, LATEST = date(1970, 1, 1), date(2099, 12, 31)


def _day(value: str, field: str) -> date:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise BadReportQuery(field, "expected a date such as 2026-12-01") from None
    if not EARLIEST <= day <= LATEST:
        raise BadReportQuery(field, f"expected a date from {EARLIEST} to {LATEST}")
    return day


def period_from(params: Mapping[str, str], days: int = DEFAULT_DAYS) -> Period:
    """`from` and `to` (YYYY-MM-DD, inclusive; default the last `days` days) of a query."""
    zone = organization_time_zone()
    today = datetime.now(ZoneInfo(zone)).date()
    last = _day(params["to"], "to") if params.get("to") else today
    first = (_day(params["from"], "from") if params.get("from")
             else last - timedelta(days=days - 1))
    if first > last:
        raise BadReportQuery("from", "must not be after `to`")
    if (last - first).days >= MAX_DAYS:
        raise BadReportQuery("to", f"a report covers at most {MAX_DAYS} days: narrow the range")
    return Period(first, last, zone)


def month_from(value: str | None) -> Period:
    """The month `YYYY-MM` (default: the current one in the organization's time zone)."""
    zone = organization_time_zone()
    if value:
        try:
            first = datetime.strptime(value, "%Y-%m").date()
        except ValueError:
            raise BadReportQuery("month", "expected a month such as 2026-12") from None
        if not EARLIEST <= first <= LATEST:
            raise BadReportQuery("month", f"expected a month from {EARLIEST:%Y-%m} to "
                                 f"{LATEST:%Y-%m}")
    else:
        first = datetime.now(ZoneInfo(zone)).date().replace(day=1)
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return Period(first, following - timedelta(days=1), zone)
