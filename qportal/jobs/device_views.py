"""The backend page: the coupling map as SVG coloured by T1, T2 or readout error, per-qubit table,
two-qubit gate errors on the edges, queue length and last calibration."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from executors.base import InvalidRequest
from qportal.accounts.access import NotFound
from qportal.jobs import comparison, provenance, services
from qportal.jobs.devices import COLOURINGS, device_info, map_view


@login_required
def backend_page(request, name: str):
    profile = request.GET.get("profile", "")
    try:
        info = device_info(request.user, name, profile)
    except NotFound as exc:
        raise Http404(str(exc)) from None
    colour = request.GET.get("colour", "t1")
    return render(
        request,
        "devices/backend.html",
        {
            "info": info,
            "map": map_view(info, colour),
            "colourings": [(key, value[0]) for key, value in COLOURINGS.items()],
            "qubit_rows": [_qubit_row(q) for q in info["qubits"]],
            "two_qubit": [
                {**g, "ns": _fixed(g["duration"], 1e9, 0), "error_text": _fixed(g["error"], 1, 5)}
                for g in info["gates"]
                if len(g["qubits"]) == 2
            ],
        },
    )


def _fixed(value: float | None, scale: float, digits: int) -> str:
    return "–" if value is None else f"{value * scale:.{digits}f}"


def _qubit_row(qubit: dict) -> dict:
    """A qubit's table row: raw values (for data attributes, exact) and the numbers shown."""
    raw = {key: "" if qubit.get(key) is None else repr(qubit[key]) for key in ("t1", "t2", "readout_error", "sx_error")}
    return {
        "qubit": qubit["qubit"],
        **raw,
        "t1_us": _fixed(qubit.get("t1"), 1e6, 2),
        "t2_us": _fixed(qubit.get("t2"), 1e6, 2),
        "readout_text": _fixed(qubit.get("readout_error"), 1, 4),
        "sx_text": _fixed(qubit.get("sx_error"), 1, 6),
        "ghz": _fixed(qubit.get("frequency"), 1e-9, 4),
    }


@login_required
@require_GET
def job_provenance(request, job_id):
    """The job's reproducibility export as a JSON attachment."""
    try:
        job = services.get_job(request.user, job_id)
    except NotFound:
        raise Http404("job not found") from None
    answer = JsonResponse(provenance.export(job), json_dumps_params={"indent": 1})
    answer["Content-Disposition"] = f'attachment; filename="qportal-{job.id}-provenance.json"'
    return answer


@login_required
@require_GET
def compare_page(request):
    """Ideal, twin and device runs of the same circuits side by side (``?jobs=a,b``)."""
    ids = [part.strip() for part in request.GET.get("jobs", "").split(",") if part.strip()]
    try:
        result = comparison.compare(request.user, ids)
    except NotFound:
        raise Http404("job not found") from None
    except InvalidRequest as exc:
        return render(request, "forbidden.html", {"message": str(exc)}, status=400)
    return render(request, "devices/compare.html", {**comparison.page_context(result), "ids": ",".join(ids)})


@login_required
@require_POST
def compare_job(request, job_id):
    """The job page's "Compare with ideal" button: an ideal run of the job, then the compare page."""
    try:
        job = services.get_job(request.user, job_id)
        ideal = comparison.companion(request.user, job)
    except NotFound:
        raise Http404("job not found") from None
    except InvalidRequest as exc:
        return render(request, "forbidden.html", {"message": str(exc)}, status=400)
    return redirect(f"/compare/?jobs={ideal.id},{job.id}")
