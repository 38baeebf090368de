"""Server-rendered pages for jobs."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render

from executors.base import InvalidRequest
from qportal.accounts.access import NotFound, ReadOnly
from qportal.jobs import services
from qportal.profiles.services import ProfileInvalid, visible_profiles


@login_required
def job_list(request):
    jobs = services.jobs_for(request.user)[:100]
    return render(request, "jobs/list.html", {"jobs": jobs})


@login_required
def job_detail(request, job_id):
    try:
        job = services.get_job(request.user, job_id)
    except NotFound:
        raise Http404("job not found") from None
    return render(request, "jobs/detail.html", {"job": job, "circuits": job.circuits.all(), "events": job.events.all()})


@login_required
def submit(request):
    form = {"qasm": "", "profile": "local", "shots": "1024", "name": ""}
    error = None
    if request.method == "POST":
        form = {key: request.POST.get(key, "") for key in form}
        try:
            shots = int(form["shots"]) if form["shots"].strip() else None
        except ValueError:
            error = "shots must be a whole number"
        else:
            try:
                job = services.submit_job(
                    request.user,
                    services.Submission(profile=form["profile"], circuits=[{"qasm": form["qasm"]}], shots=shots, name=form["name"]),
                )
                return redirect("job-detail", job_id=job.id)
            except (InvalidRequest, ProfileInvalid, NotFound, ReadOnly) as exc:
                error = str(exc)
    return render(
        request, "jobs/submit.html", {"form": form, "error": error, "profiles": visible_profiles(request.user)}, status=400 if error else 200
    )
