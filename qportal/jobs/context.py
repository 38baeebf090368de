"""What the pages' scripts need from the server, given once on ``<body>`` as ``data-`` attributes:
URL patterns (with ``{id}`` for a job id) and the status sets, so no script spells a path or a
status list of its own."""

from __future__ import annotations

import functools
import json
import uuid

from django.urls import reverse

from qportal.jobs.models import ACTIVE, TERMINAL, JobStatus

_ANY = uuid.UUID(int=0)
_PAGE_URLS = {"job": "job-detail", "row": "job-row", "panels": "job-panels"}
_API_URLS = {
    "events": "job_events",
    "cancel": "cancel",
    "rerun": "rerun",
    "archive": "archive",
    "unarchive": "unarchive",
    "api_job": "get_job",
}


@functools.cache
def _script_data() -> dict[str, str]:
    urls = {key: reverse(name, args=[_ANY]) for key, name in _PAGE_URLS.items()}
    urls |= {key: reverse(f"api-v1:{name}", kwargs={"job_id": _ANY}) for key, name in _API_URLS.items()}
    urls["list"] = reverse("job-list")
    urls["team_socket"] = "/ws/jobs/"
    urls["job_socket"] = "/ws/jobs/{id}/"
    return {
        "urls": json.dumps({key: url.replace(str(_ANY), "{id}") for key, url in urls.items()}),
        "unfinished": " ".join(sorted([JobStatus.QUEUED.value, *(str(s) for s in ACTIVE)])),
        "finished": " ".join(sorted(str(s) for s in TERMINAL)),
    }


def script_data(request) -> dict:
    return {"script_data": _script_data()}
