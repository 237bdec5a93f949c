"""The dashboard at /reports/ and a campaign's report page: server-rendered, charts drawn by the
vendored Chart.js (crm/static/reports/chart.umd.js) from the same figures as the API."""
from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from crm.inbox.access import inbox_view
from crm.models import Campaign
from crm.reports import campaign_report, queries
from crm.reports.errors import BadReportQuery, ReportsNeedPostgreSQL
from crm.reports.period import period_from
from crm.reports.views import sees_everything


@require_GET
@inbox_view
def dashboard(request: HttpRequest) -> HttpResponse:
    """The organization's figures for the ORG_ADMIN; an agent's own first responses."""
    try:
        period = period_from(request.GET)
        everything = sees_everything(request.user)
        figures = {
            "agents": queries.agents(period, None if everything else str(request.user.pk)),
        }
        if everything:
            figures.update(overview=queries.overview(period),
                           campaigns=queries.campaigns(period)["campaigns"],
                           referrals=queries.referrals(period)["sources"])
    except BadReportQuery as error:
        return HttpResponse(str(error), status=400, content_type="text/plain")
    except ReportsNeedPostgreSQL as error:
        return HttpResponse(str(error), status=501, content_type="text/plain")
    return render(request, "reports/dashboard.html", {
        "organization": request.inbox_organization, "period": period, "everything": everything,
        "figures": figures,
    })


@require_GET
@inbox_view
def campaign(request: HttpRequest, campaign_id: str) -> HttpResponse:
    """One campaign's report, with its downloads."""
    found = Campaign.objects.filter(pk=campaign_id).first()
    if found is None:
        raise Http404("No such campaign.")
    return render(request, "reports/campaign.html", {
        "organization": request.inbox_organization, "report": campaign_report.report(found),
    })
