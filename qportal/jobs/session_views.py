"""Server-rendered session pages: the sessions list, and a session with its jobs, kept live by the
team job stream (``static/js/session-detail.js``) exactly as the job list is.

Access: ``sessions.get_session`` (another team's session is a 404); closing and cancelling need a
writable membership (a viewer gets the 403 page that says why).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from qportal.accounts.access import Conflict, NotFound, ReadOnly, team_ids
from qportal.jobs import sessions
from qportal.jobs.models import RuntimeSession

LISTED_SESSIONS = 200
SHOWN_JOBS = 500


def _session_or_404(request, session_id) -> RuntimeSession:
    try:
        return sessions.get_session(request.user, session_id)
    except NotFound:
        raise Http404("session not found") from None


@login_required
@require_GET
def session_list(request):
    found = list(sessions.sessions_for(request.user).annotate(job_count=Count("jobs"))[:LISTED_SESSIONS])
    return render(request, "jobs/session_list.html", {"sessions": found})


@login_required
@require_GET
def session_detail(request, session_id):
    """The session and its jobs, oldest first; ``?fragment=rows``: the rows and the summary as JSON
    (the page's live refetch)."""
    session = _session_or_404(request, session_id)
    jobs = list(sessions.jobs_of(session)[:SHOWN_JOBS])
    writable = set(team_ids(request.user, write=True))
    context = {
        "session": session,
        "jobs": jobs,
        "job_count": len(jobs),
        "writable": writable,
        "can_write": session.team_id in writable,
        "now": timezone.now(),
    }
    if request.GET.get("fragment") == "rows":
        return JsonResponse(
            {
                "rows": render_to_string("jobs/_session_rows.html", context, request=request),
                "summary": render_to_string("jobs/_session_summary.html", context, request=request),
            }
        )
    return render(request, "jobs/session_detail.html", context)


def _act(request, session_id, action):
    session = _session_or_404(request, session_id)
    try:
        action(request.user, session)
    except ReadOnly as exc:
        return render(request, "forbidden.html", {"message": str(exc)}, status=403)
    except Conflict:
        pass  # already ended otherwise: the page shows how
    return redirect("session-detail", session_id=session.id)


@login_required
@require_POST
def session_close(request, session_id):
    return _act(request, session_id, sessions.close_session)


@login_required
@require_POST
def session_cancel(request, session_id):
    return _act(request, session_id, sessions.cancel_session)
