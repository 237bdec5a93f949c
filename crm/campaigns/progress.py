"""How far a campaign's latest run is: counts per status, the current rate, the expected end."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from crm.campaigns.sending import SKIPPED
from crm.models import Job, JobStatus

RATE_WINDOW = 10  # seconds over which the current rate is measured


def progress(job: Job) -> dict[str, Any]:
    """The job's counts (pending, success, failure, skipped), rate (sends/s) and expected end."""
    now = timezone.now()
    skipped = Q(status=JobStatus.Status.FAILURE, reason=SKIPPED)
    counts = job.statuses.aggregate(
        total=Count("pk"),
        pending=Count("pk", filter=Q(status=JobStatus.Status.PENDING)),
        success=Count("pk", filter=Q(status=JobStatus.Status.SUCCESS)),
        failure=Count("pk", filter=Q(status=JobStatus.Status.FAILURE) & ~skipped),
        skipped=Count("pk", filter=skipped),
        recent=Count("pk", filter=~Q(status=JobStatus.Status.PENDING) & Q(
            updated_at__gte=now - timedelta(seconds=RATE_WINDOW))),
    )
    rate = counts.pop("recent") / RATE_WINDOW
    running = job.state == Job.State.RUNNING
    expected_end = (
        now + timedelta(seconds=counts["pending"] / rate) if running and rate else None
    )
    return {
        "job": str(job.pk), "state": job.state, "stop_reason": job.stop_reason,
        "counts": counts, "rate_per_second": round(rate, 1),
        "started_at": job.started_at, "finished_at": job.finished_at,
        "expected_end": expected_end if running else job.finished_at,
    }
