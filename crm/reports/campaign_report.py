"""One campaign's report: its funnel per sending number, recipients, failures in words, opt-outs
and orders paid within 7 days, over all its runs; and the same as CSV or XLSX rows.

Reads the campaign_funnels roll-up, the runs' own job_status rows (one index range per run),
the failed messages of the runs (a partial index) and the few paid orders: never every message.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, Sum
from openpyxl import Workbook

from crm.campaigns.sending import SKIPPED
from crm.models import Campaign, CampaignFunnel, Customer, JobStatus, Message, Order
from crm.reports.queries import funnel_row
from crm.whatsapp.errors import class_for

PAID_WITHIN = timedelta(days=7)
FUNNEL = ("sent", "delivered", "read", "failed", "replied")


def failure_words(code: int | None) -> str:
    """What Meta's error code means, in words (crm.whatsapp.errors)."""
    if code is None:
        return "Failed without an error code from Meta."
    error = class_for(code)
    summary = (error.__doc__ or "").strip().splitlines()[0]
    return f"{summary} {error.hint}".strip()


def _numbers(job_ids: list[Any]) -> list[dict[str, Any]]:
    sums = (CampaignFunnel.objects.filter(job_id__in=job_ids).values("number")
            .annotate(**{name: Sum(name) for name in FUNNEL}).order_by("number"))
    return [{"number": row["number"] or None,
             **funnel_row(*(int(row[name] or 0) for name in FUNNEL))} for row in sums]


def _recipients(job_ids: list[Any]) -> dict[str, int]:
    counts = JobStatus.objects.filter(job_id__in=job_ids).aggregate(
        total=Count("customer_id"),
        pending=Count("customer_id", filter=Q(status=JobStatus.Status.PENDING)),
        sent=Count("customer_id", filter=Q(status=JobStatus.Status.SUCCESS)),
        skipped=Count("customer_id", filter=Q(status=JobStatus.Status.FAILURE, reason=SKIPPED)),
        not_sent=Count("customer_id", filter=Q(status=JobStatus.Status.FAILURE)
                       & ~Q(reason=SKIPPED)),
        replied=Count("customer_id", filter=Q(replied_at__isnull=False)),
    )
    return {key: int(value or 0) for key, value in counts.items()}


def _failures(job_ids: list[Any]) -> list[dict[str, Any]]:
    found = (Message.objects.filter(campaign_job_id__in=job_ids, delivery_status="failed")
             .values("error_code").annotate(messages=Count("id")).order_by("-messages",
                                                                           "error_code"))
    return [{"code": row["error_code"], "meaning": failure_words(row["error_code"]),
             "messages": row["messages"]} for row in found]


def _opted_out(job_ids: list[Any], since: datetime | None) -> int:
    """Recipients sent to who opted out of marketing after the campaign first ran."""
    if since is None:
        return 0
    # From the few customers who opted out (a partial index), then each one's recipient rows.
    sent = JobStatus.objects.filter(job_id__in=job_ids, customer_id=OuterRef("pk"),
                                    status=JobStatus.Status.SUCCESS)
    return Customer.objects.filter(marketing_opt_out_at__gte=since).filter(Exists(sent)).count()


def _paid_orders(job_ids: list[Any], since: datetime | None) -> int:
    """Orders of recipients paid within 7 days after their message was sent."""
    if since is None:
        return 0
    paid = OuterRef("payment_completed_at")
    sent_before = JobStatus.objects.filter(
        job_id__in=job_ids, customer_id=OuterRef("customer_id"), status=JobStatus.Status.SUCCESS,
        updated_at__lte=paid, updated_at__gt=paid - PAID_WITHIN,
    )
    return Order.objects.filter(payment_completed_at__gte=since).filter(
        Exists(sent_before)).count()


def report(campaign: Campaign) -> dict[str, Any]:
    """The campaign's report over every run of it."""
    jobs = list(campaign.jobs.order_by("created_at").values("id", "state", "created_at",
                                                            "started_at", "finished_at"))
    job_ids = [job["id"] for job in jobs]
    since = min((job["started_at"] or job["created_at"] for job in jobs
                 if job["started_at"] or job["created_at"]), default=None)
    numbers = _numbers(job_ids)
    totals = {name: sum(row[name] for row in numbers) for name in FUNNEL}
    return {
        "campaign": {"id": str(campaign.pk), "name": campaign.name, "status": campaign.status},
        "runs": [{"id": str(job["id"]), "state": job["state"],
                  "started_at": job["started_at"], "finished_at": job["finished_at"]}
                 for job in jobs],
        **totals,
        "recipients": _recipients(job_ids),
        "per_number": numbers,
        "failures": _failures(job_ids),
        "opted_out": _opted_out(job_ids, since),
        "orders_paid_within_7_days": _paid_orders(job_ids, since),
    }


def table(data: dict[str, Any]) -> Iterator[list[Any]]:
    """The report as rows of cells (CSV and XLSX)."""
    yield ["campaign", data["campaign"]["name"]]
    yield []
    yield ["sending number", *FUNNEL]
    for row in data["per_number"]:
        yield [row["number"] or "", *(row[name] for name in FUNNEL)]
    yield ["all numbers", *(data[name] for name in FUNNEL)]
    yield []
    yield ["recipients", *data["recipients"]]
    yield ["", *data["recipients"].values()]
    yield []
    yield ["failure code", "meaning", "messages"]
    for row in data["failures"]:
        yield [row["code"] if row["code"] is not None else "", row["meaning"], row["messages"]]
    yield []
    yield ["opted out after the run started", data["opted_out"]]
    yield ["orders paid within 7 days", data["orders_paid_within_7_days"]]


def _cell(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (=, +, -, @) is kept as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def as_csv(data: dict[str, Any]) -> bytes:
    """The report as CSV."""
    out = io.StringIO()
    csv.writer(out).writerows([_cell(value) for value in row] for row in table(data))
    return out.getvalue().encode()


def as_xlsx(data: dict[str, Any]) -> bytes:
    """The report as an XLSX workbook of one sheet."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("report")
    for row in table(data):
        sheet.append([_cell(value) for value in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
