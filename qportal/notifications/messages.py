"""What a notification says: the job snapshot, the webhook body and its signature, the email.

Everything is built from named job fields (never a credential, key or token); the email says
what the webhook body says.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from django.conf import settings

SIGNATURE_HEADER = "X-Qportal-Signature"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def job_snapshot(job, status: str) -> dict[str, Any]:
    """The job as it ended (``status`` is the event's: the row may have moved on)."""
    return {
        "id": str(job.id),
        "name": job.name,
        "status": status,
        "team": job.team.name,
        "profile": job.profile.name,
        "circuits": job.num_circuits,
        "shots": job.shots,
        "created": _iso(job.created),
        "finished_at": _iso(job.finished_at),
        "error": job.error,
    }


# Written out, not reversed: reversing would load every view module into the worker.
def job_url(job_id) -> str:
    return f"{settings.PUBLIC_URL.rstrip('/')}/jobs/{job_id}/"


def page_url() -> str:
    return f"{settings.PUBLIC_URL.rstrip('/')}/notifications/"


def summary(event: str, payload: dict) -> str:
    """One line: "qportal: job bell done" (also the email's subject and the Slack text's start)."""
    job = payload.get("job")
    if job is None:
        return "qportal: test notification"
    label = job["name"] or job["id"][:8]
    return f"qportal: job {label} {job['status']}"


def body(delivery, sent_at: datetime) -> dict[str, Any]:
    return {
        "event": delivery.event,
        "job": delivery.payload.get("job"),
        "url": delivery.payload.get("url"),
        "delivery": str(delivery.id),
        "sent_at": sent_at.isoformat(),
    }


def slack_body(delivery) -> dict[str, str]:
    job = delivery.payload.get("job")
    text = f"{summary(delivery.event, delivery.payload)}: {delivery.payload.get('url')}"
    if job and job.get("error"):
        text += f"\n{job['error'][:500]}"
    return {"text": text}


def encode(data: dict) -> bytes:
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


def sign(secret: str, raw: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the raw body (which holds ``sent_at`` and ``delivery``)."""
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def email_text(delivery) -> tuple[str, str]:
    """Subject and plain-text body."""
    subject = summary(delivery.event, delivery.payload)
    job = delivery.payload.get("job")
    lines = [subject, ""]
    if job is None:
        lines.append("A test notification from qportal: this subscription works.")
    else:
        for key in ("name", "status", "team", "profile", "circuits", "shots", "created", "finished_at", "error"):
            if job.get(key) not in (None, ""):
                lines.append(f"{key.replace('_', ' ').capitalize()}: {job[key]}")
    lines += ["", str(delivery.payload.get("url") or ""), ""]
    lines.append(f"Delivery {delivery.id}; manage notifications at {page_url()}")
    return subject, "\n".join(lines)
