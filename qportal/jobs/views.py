"""Server-rendered job pages. Partial templates render both the full page and its live updates.

Access: every view goes through ``services.get_job`` (another team's job is a 404); actions that
change something need a writable membership (a viewer gets a 403 page that says why).
"""

from __future__ import annotations

import base64
import functools
import io
import json
import re
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from qiskit import qasm2, qasm3, qpy

from executors.base import InvalidRequest
from executors.circuits import parse_circuit, qasm_version
from executors.job_options import effective_options, precision_of
from executors.preflight import check_job_sources
from qportal.accounts.access import NotFound, ReadOnly, can_write, is_owner, team_ids, user_teams
from qportal.accounts.models import Membership
from qportal.jobs import budgets, circuit_browser, downloads, history, provenance, queue_limits, services
from qportal.jobs.filters import canonical_sort, filter_jobs, given_filters, parse_filters, parse_sort, sort_keys
from qportal.jobs.models import Job, JobStatus
from qportal.profiles.models import ExecutorProfile, ProfileKind
from qportal.profiles.services import ProfileInvalid, visible_profiles

PAGE_SIZE = 25
PAGE_SIZES = (25, 50, 100, 200)
# The list's columns: label, the ``sort`` name that orders by it (None: not sortable), CSS class.
LIST_COLUMNS = (
    ("Job", "name", ""),
    ("Status", "status", ""),
    ("Circuits", "circuits", "num"),
    ("Profile", "profile", ""),
    ("Submitted by", "creator", ""),
    ("Queued", None, "num"),
    ("Running", None, "num"),
    ("Created", "created", ""),
    ("", None, ""),
)


def forbidden(request, message: str):
    return render(request, "forbidden.html", {"message": message}, status=403)


def _job_or_404(request, job_id) -> Job:
    try:
        return services.get_job(request.user, job_id)
    except NotFound:
        raise Http404("job not found") from None


# ----------------------------------------------------------------------------------------------
# list


def filtered_jobs(request):
    """The user's jobs narrowed and ordered by the list page's query string (``filters.filter_jobs``,
    as the API does); returns (queryset, the filters as given, the error of an invalid one or "")."""
    given = given_filters(request.GET)
    jobs = services.history_for(request.user)
    try:
        return filter_jobs(jobs, parse_filters(given)), given, ""
    except InvalidRequest as exc:
        return jobs.none(), given, str(exc)


def _page_size(request) -> int:
    value = request.GET.get("page_size", "")
    return int(value) if value.isdigit() and int(value) in PAGE_SIZES else PAGE_SIZE


def _columns(request) -> list[dict]:
    """The table's headers: label, CSS class, and for a sortable one the link that sorts by it
    (again: the other way round) and its ``aria-sort``."""
    try:
        current, descending = parse_sort(request.GET.get("sort"))
    except InvalidRequest:
        current, descending = parse_sort(None)
    query = request.GET.copy()
    for name in ("page", "cursor", "fragment", "sort"):
        query.pop(name, None)
    columns = []
    for label, key, css in LIST_COLUMNS:
        column = {"label": label, "css": css, "key": key}
        if key:
            first_descending = key in ("created", "circuits")  # newest and largest first
            if key == current:
                column["aria_sort"] = "descending" if descending else "ascending"
                next_descending = not descending
            else:
                next_descending = first_descending
            query["sort"] = f"-{key}" if next_descending else key
            column["url"] = "?" + query.urlencode()
        columns.append(column)
    return columns


def count_text(count: int, capped: bool) -> str:
    """The count line: "1 job", "25 jobs", or "more than 1,000 jobs" past ``history.COUNT_CAP``."""
    if capped:
        return f"more than {count:,} jobs"
    return f"{count:,} job{'' if count == 1 else 's'}"


@login_required
@require_GET
def job_list(request):
    """A page of the list by cursor (``history.page``), as the API pages it; an old ``page=N`` link
    is the first page.  A cursor that is not one the list gave is a 400 that says so."""
    jobs, filters, error = filtered_jobs(request)
    size, cursor, status = _page_size(request), request.GET.get("cursor", "").strip(), 200
    found = history.Page([], None, None)
    if not error:
        sort = filters["sort"] or None
        try:
            found = history.page(jobs, sort_keys(sort), canonical_sort(sort), cursor or None, size)
        except InvalidRequest as exc:
            error, status = str(exc), 400
    count, capped = history.count(jobs, found, cursor) if not error else (0, False)
    query = request.GET.copy()
    for name in ("page", "cursor", "fragment"):
        query.pop(name, None)
    context = {
        "page": found,
        "jobs": found.items,
        "cursor": cursor if status == 200 else "",
        "count_text": count_text(count, capped),
        "filters": filters,
        "filter_error": error,
        "query": query.urlencode(),
        "columns": _columns(request),
        "page_size": size,
        "page_sizes": PAGE_SIZES,
        "writable": set(team_ids(request.user, write=True)),
        "statuses": JobStatus.values,
        "profiles": sorted({p.name for p in visible_profiles(request.user)}),
        "teams": user_teams(request.user),
        "now": timezone.now(),
    }
    if request.GET.get("fragment") == "rows":  # the live refetch: the rows and the count line
        return JsonResponse(
            {
                "rows": render_to_string("jobs/_rows.html", context, request=request),
                "pager": render_to_string("jobs/_pager.html", context, request=request),
            },
            status=status,
        )
    return render(request, "jobs/list.html", context, status=status)


@login_required
@require_GET
def job_row(request, job_id):
    job = _job_or_404(request, job_id)
    return render(
        request,
        "jobs/_row.html",
        {"job": job, "writable": set(team_ids(request.user, write=True)), "now": timezone.now()},
    )


@login_required
@require_POST
def job_cancel(request, job_id):
    job = _job_or_404(request, job_id)
    try:
        services.cancel_job(request.user, job)
    except ReadOnly as exc:
        return forbidden(request, f"You cannot cancel this job: {exc}.")
    except services.Conflict as exc:
        return render(request, "forbidden.html", {"message": str(exc), "title": "Cannot cancel"}, status=409)
    if request.POST.get("next"):
        return redirect(_safe_next(request))
    return redirect("job-detail", job_id=job.id)


@login_required
@require_POST
def job_force_fail(request, job_id):
    job = _job_or_404(request, job_id)
    try:
        services.force_fail_job(request.user, job, request.POST.get("reason", ""))
    except ReadOnly as exc:
        return forbidden(request, f"You cannot fail this job: {exc}.")
    except services.Conflict as exc:
        return render(request, "forbidden.html", {"message": str(exc), "title": "Cannot fail"}, status=409)
    return redirect("job-detail", job_id=job.id)


@login_required
@require_POST
def job_archive(request, job_id):
    job = _job_or_404(request, job_id)
    archive = request.POST.get("archived", "true") != "false"
    try:
        (services.archive_job if archive else services.unarchive_job)(request.user, job)
    except ReadOnly as exc:
        return forbidden(request, f"You cannot archive this job: {exc}.")
    except services.Conflict as exc:
        return render(request, "forbidden.html", {"message": str(exc), "title": "Cannot archive"}, status=409)
    if request.POST.get("next"):
        return redirect(_safe_next(request))
    return redirect("job-detail", job_id=job.id)


@login_required
@require_POST
def job_delete(request, job_id):
    """The job page's Delete without its script: a running job is told to stop, and deleted by
    pressing Delete again once it has stopped (the script waits for that itself)."""
    job = _job_or_404(request, job_id)
    try:
        deleted = services.delete_job(request.user, job)
    except ReadOnly as exc:
        return forbidden(request, f"You cannot delete this job: {exc}.")
    if not deleted:
        message = "The job was told to stop; delete it again once it has stopped."
        return render(request, "forbidden.html", {"message": message, "title": "Still running"}, status=409)
    return redirect("job-list")


def _safe_next(request) -> str:
    target = request.POST.get("next", "")
    return target if target.startswith("/") and not target.startswith("//") else "/"


@login_required
@require_POST
def job_rerun(request, job_id):
    job = _job_or_404(request, job_id)
    try:
        new = services.rerun_job(request.user, job)
    except ReadOnly as exc:
        return forbidden(request, f"You cannot run this job again: {exc}.")
    except (InvalidRequest, ProfileInvalid, NotFound) as exc:
        return render(request, "forbidden.html", {"message": str(exc), "title": "Cannot run again"}, status=400)
    except queue_limits.QueueFull as exc:
        response = render(request, "forbidden.html", {"message": str(exc), "title": "Cannot run again"}, status=429)
        response["Retry-After"] = str(exc.retry_after)
        return response
    return redirect("job-detail", job_id=new.id)


# ----------------------------------------------------------------------------------------------
# detail


def _summary_context(request, job: Job) -> dict:
    return {
        "job": job,
        "can_write": can_write(request.user, job.team_id),
        "can_force_fail": not job.is_terminal and is_owner(request.user, job.team_id),
        "now": timezone.now(),
        "progress": int(100 * job.circuits_done / job.num_circuits) if job.num_circuits else 0,
    }


def _browser_context(request, job: Job) -> dict:
    selection = circuit_browser.Selection(job, request.GET)
    return {
        "selection": selection,
        "table": circuit_browser.table(job, selection),
        "opened": circuit_browser.opened(job, selection),
    }


@login_required
@require_GET
def job_detail(request, job_id):
    job = _job_or_404(request, job_id)
    # Read after the job row: the timeline may be newer than ``job``; the client continues from it.
    events = list(job.events.all())
    context = {
        **_summary_context(request, job),
        **_browser_context(request, job),
        "events": events,
        "timeline_seq": events[-1].seq if events else 0,
        "reruns": list(job.reruns.values_list("id", flat=True)[:10]),
        "provenance": provenance.page_context(job),
    }
    return render(request, "jobs/detail.html", context)


@login_required
@require_GET
def job_circuit_diagram(request, job_id, index: int):
    job = _job_or_404(request, job_id)
    circuit = job.circuits.filter(index=index).first()
    if circuit is None:
        raise Http404("no such circuit")
    return HttpResponse(circuit_browser.circuit_diagram_of(circuit), content_type="text/plain; charset=utf-8")


@login_required
@require_GET
def job_panels(request, job_id):
    """The live parts of the detail page, re-rendered from the same partials (JSON of HTML), for
    the circuit and table page the page's query string names."""
    job = _job_or_404(request, job_id)
    browser = _browser_context(request, job)
    opened = browser["opened"]
    return JsonResponse(
        {
            "last_seq": job.last_seq,
            "status": job.status,
            "summary": render_to_string("jobs/_summary.html", _summary_context(request, job), request=request),
            "table": render_to_string("jobs/_circuit_rows.html", {**browser, "job": job}, request=request),
            "result": render_to_string("jobs/_circuit_result.html", opened, request=request) if opened else "",
            "result_final": bool(opened and (opened["c"].done or job.is_terminal)),
        }
    )


@login_required
@require_GET
def job_results_download(request, job_id, fmt: str):
    """The job's results as a file (``downloads``: JSON lines, CSV or NumPy), streamed."""
    job = _job_or_404(request, job_id)
    if fmt not in downloads.FORMATS:
        raise Http404("no such format")
    return downloads.response(request, job, fmt)


# ----------------------------------------------------------------------------------------------
# submit


def qasmbench_examples() -> list[str]:
    """Names of the QASMBench example files that pass submission's checks on ``local`` (empty when
    the corpus is not installed): a program the portal would refuse is not offered."""
    folder = Path(getattr(settings, "QASMBENCH_DIR", "") or "")
    if not folder.is_dir():
        return []
    return _valid_examples(str(folder), tuple(sorted((p.stem, p.stat().st_mtime) for p in folder.glob("*.qasm"))))


@functools.lru_cache(maxsize=4)
def _valid_examples(folder: str, files: tuple) -> list[str]:
    """The examples among ``files`` (name, mtime) that parse and pass preflight; checked once per change."""
    limits = services.source_limits(ExecutorProfile(name="local", kind=ProfileKind.LOCAL))
    usable = []
    for name, _ in files:
        text = (Path(folder) / f"{name}.qasm").read_text(encoding="utf-8", errors="replace")
        try:
            check_job_sources([("qasm3" if qasm_version(text) == 3 else "qasm2", text)], limits)
            parse_circuit({"qasm": text})
        except InvalidRequest:
            continue
        usable.append(name)
    return usable


@login_required
@require_GET
def qasm_example(request, name: str):
    if name not in qasmbench_examples():
        raise Http404("no such example")
    path = Path(settings.QASMBENCH_DIR) / f"{name}.qasm"
    return FileResponse(path.open("rb"), content_type="text/plain; charset=utf-8")


SUBMIT_FIELDS = ("profile", "shots", "name", "tags", "team", "primitive", "observables", "parameter_values", "options")
STARTING_CIRCUIT = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[2];
h q[0];
cx q[0],q[1];
measure q -> c;
"""


def _observables(text: str) -> list[str] | None:
    terms = [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]
    return terms or None


def _uploaded(files) -> tuple[list[dict], list[str]]:
    """Each uploaded file as a circuit source named after the file (``.qpy``: base64 of its bytes)."""
    sources, problems = [], []
    for upload in files:
        name = Path(upload.name).stem[:200]
        data = upload.read()
        if upload.name.lower().endswith(".qpy"):
            sources.append({"qpy": base64.b64encode(data).decode(), "name": name})
            continue
        try:
            sources.append({"qasm": data.decode("utf-8"), "name": name})
        except UnicodeDecodeError:
            problems.append(f"{upload.name}: not UTF-8 text; upload OpenQASM as text or a circuit as .qpy")
    return sources, problems


def _said_once(exc: InvalidRequest) -> str:
    """The error without the circuit and line its field already shows."""
    message = re.sub(r"^circuit \d+:\s*", "", str(exc))
    return re.sub(r" at line \d+:", ":", message)


def _as_qasm(circuit) -> tuple[str, str]:
    """A stored circuit's source as OpenQASM for an editor, and a note when it had to be converted
    (QPY: written as OpenQASM 2, else 3) or cannot be ("" and why)."""
    if circuit.source_format != "qpy":
        return circuit.source, ""
    try:
        loaded = qpy.load(io.BytesIO(base64.b64decode(circuit.source)))[0]
    except Exception as exc:  # noqa: BLE001 - a note on the page, never a 500
        return "", f"circuit {circuit.index + 1} is QPY that cannot be read ({type(exc).__name__}); upload it again"
    for module, version in ((qasm2, 2), (qasm3, 3)):
        try:
            return module.dumps(loaded), f"circuit {circuit.index + 1} was QPY, written here as OpenQASM {version}"
        except Exception:  # noqa: BLE001 - OpenQASM 2 cannot say everything: try 3
            continue
    return "", f"circuit {circuit.index + 1} is QPY that OpenQASM cannot express; upload its .qpy file again"


def _prefilled(job: Job) -> tuple[dict, list[dict], list[str]]:
    """The submit form filled in with ``job``'s inputs (``?from=``): its fields, one editor per
    circuit, and notes on what the form cannot carry over."""
    circuits = list(job.circuits.all())
    form = {
        "profile": job.profile.name,
        "shots": str(job.shots),
        "name": job.name,
        "tags": ", ".join(job.tags),
        "team": str(job.team_id),
        "primitive": job.primitive,
        "observables": "",
        "memory": job.memory,
        "options": json.dumps(job.options, indent=1) if job.options else "",
    }
    if precision_of(job.primitive, effective_options(job.profile.options, job.options)) is not None:
        form["shots"] = ""  # the precision sets them (README, "Primitive options")
    editors, notes = [], []
    for circuit in circuits:
        text, note = _as_qasm(circuit)
        if note:
            notes.append(note)
        if text:
            editors.append({"text": text})
    if job.primitive == "estimator":
        shared = {json.dumps(c.observables) for c in circuits}
        terms = circuits[0].observables if circuits else None
        terms = terms if isinstance(terms, list) else [terms]
        if len(shared) == 1 and all(isinstance(term, str) for term in terms):
            form["observables"] = "\n".join(terms)
        else:
            notes.append("the observables differ between circuits or carry coefficients: write them again here")
    given = {json.dumps(c.parameter_values) for c in circuits if c.parameter_values is not None}
    if len(given) == 1 and all(c.parameter_values is not None for c in circuits):
        form["parameter_values"] = given.pop()
    elif given:
        notes.append("the parameter values differ between circuits: the form applies one set to every circuit")
    return form, editors or [{"text": ""}], notes


def _typed_json(text: str, what: str, empty: object) -> tuple[object, str | None]:
    """A JSON textarea of the submit form (``what`` names it; checked later, as the API checks
    it): its value (``empty`` when blank), or why it is not JSON."""
    if not text.strip():
        return empty, None
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"{what} are not valid JSON: {exc.msg} (line {exc.lineno})"


def _rerun_source(request) -> Job | None:
    """The job named by ``from`` (a link to the job page's "Edit and run again") or None; another
    team's job, or no job, is a 404."""
    given = request.GET.get("from") or request.POST.get("from") or ""
    return _job_or_404(request, given) if given else None


@login_required
def submit(request):
    defaults = {"profile": "local", "shots": "1024", "primitive": "sampler", "memory": False}
    form = dict.fromkeys(SUBMIT_FIELDS, "") | defaults
    editors = [{"text": STARTING_CIRCUIT}]
    error, file_errors, status, notes = None, [], 200, []
    source_job = _rerun_source(request)
    if source_job is not None and request.method != "POST":
        form, editors, notes = _prefilled(source_job)
    if request.method == "POST":
        form = {key: request.POST.get(key, "") for key in SUBMIT_FIELDS}
        form["memory"] = request.POST.get("memory") == "on"  # a checkbox: sent only when ticked
        texts = request.POST.getlist("qasm")
        editors = [{"text": text} for text in texts] or [{"text": ""}]
        typed = [(i, text) for i, text in enumerate(texts) if text.strip()]
        uploaded, file_errors = _uploaded(request.FILES.getlist("files"))
        sources = [{"qasm": text} for _, text in typed] + uploaded
        # Where each source came from: an editor's index, or an uploaded file's name.
        origins = [("editor", i) for i, _ in typed] + [("file", s["name"]) for s in uploaded]
        try:
            shots = int(form["shots"]) if form["shots"].strip() else None
        except ValueError:
            error, status = "shots must be a whole number", 400
        else:
            options, error = _typed_json(form["options"], "options", {})
            values, values_error = _typed_json(form["parameter_values"], "parameter values", None)
            error = error or values_error
            if values is not None:  # one PUB's values for every circuit: a binding, or a sweep
                sources = [{**source, "parameter_values": values} for source in sources]
            if error:
                status = 400
            elif file_errors:
                status = 400
            elif not sources:
                error, status = "write a circuit in an editor or upload a .qasm or .qpy file", 400
            else:
                primitive = form["primitive"] if form["primitive"] in ("sampler", "estimator") else "sampler"
                observables = _observables(form["observables"]) if primitive == "estimator" else None
                sub = services.Submission(
                    profile=form["profile"],
                    circuits=sources,
                    shots=shots,
                    primitive=primitive,
                    observables=[observables] * len(sources) if observables else None,
                    name=form["name"],
                    tags=[t for t in (s.strip() for s in form["tags"].split(",")) if t],
                    team=int(form["team"]) if form["team"].isdigit() else None,
                    memory=form["memory"],
                    options=options,
                )
                try:
                    job = services.submit_job(request.user, sub, rerun_of=source_job)
                    return redirect("job-detail", job_id=job.id)
                except ReadOnly as exc:
                    error, status = f"You cannot submit jobs here: {exc}.", 403
                except InvalidRequest as exc:
                    status = 400
                    if exc.index is not None and exc.index < len(origins):
                        kind, where = origins[exc.index]
                        if kind == "editor":
                            editors[where].update(error=_said_once(exc), line=exc.line)
                        else:
                            line = f" line {exc.line}" if exc.line else ""
                            file_errors = [f"{where}{line}: {_said_once(exc)}"]
                    else:
                        error = str(exc)
                except (ProfileInvalid, NotFound) as exc:
                    error, status = str(exc), 400
                except queue_limits.QueueFull as exc:
                    error, status = str(exc), 429
                except budgets.BudgetExceeded as exc:
                    error, status = str(exc), budgets.REFUSED_STATUS
    teams = [
        m
        for m in Membership.objects.filter(user=request.user)
        .select_related("team")
        .order_by("-team__personal", "team__name")
    ]
    context = {
        "form": form,
        "editors": editors,
        "error": error,
        "file_errors": file_errors,
        "profiles": visible_profiles(request.user).order_by("team_id", "name"),
        "teams": teams,
        "examples": qasmbench_examples(),
        "any_writable": any(m.can_write for m in teams),
        "source_job": source_job,
        "notes": notes,
        "starting_circuit": STARTING_CIRCUIT,
    }
    return render(request, "jobs/submit.html", context, status=status)
