"""The sender: claims due deliveries, sends them, records every attempt.

A claim is a conditional UPDATE (due, and still as read) that sets ``status='sending'``, a lease
and ``attempts += 1``, with the attempt's row, in one transaction; the outcome is written only if
the delivery still carries that attempt number.  A worker killed mid-send leaves the delivery
``sending`` with a lease that expires; the next claim (any worker) sends it again: at least once.
Receivers deduplicate on the ``X-Qportal-Delivery`` header.

``run_forever`` is one of the worker's extra loops (``WORKER_LOOPS``): it runs in every
``runworker`` and in the embedded worker.  Database work runs in one thread of its own, sends in a
bounded pool (``QPORTAL_NOTIFY_CONCURRENCY``), so a slow receiver never stalls the job loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import close_old_connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from qportal.notifications import dispatch, messages, targets
from qportal.notifications.models import Attempt, Channel, Delivery, DeliveryStatus, Format

log = logging.getLogger(__name__)
ERROR_CHARS = 500


def _due(now) -> Q:
    return Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now) | Q(
        status=DeliveryStatus.SENDING, lease_until__lt=now
    )


def claim(limit: int, worker: str = "") -> list[tuple[int, int]]:
    """Claim up to ``limit`` due deliveries: their ``(id, attempt number)``."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.NOTIFY_LEASE_SECONDS)
    candidates = Delivery.objects.filter(_due(now)).order_by("next_attempt_at", "id").values_list("id", flat=True)
    claimed = []
    for delivery_id in list(candidates[: limit * 2]):
        if len(claimed) >= limit:
            break
        with transaction.atomic():
            won = Delivery.objects.filter(_due(now), id=delivery_id).update(
                status=DeliveryStatus.SENDING, lease_until=lease, attempts=F("attempts") + 1
            )
            if not won:
                continue  # another sender took it
            number = Delivery.objects.filter(id=delivery_id).values_list("attempts", flat=True)[0]
            Attempt.objects.create(delivery_id=delivery_id, number=number, worker=worker[:100], started=now)
        claimed.append((delivery_id, number))
    return claimed


def send(delivery: Delivery) -> int | None:
    """Send once; the HTTP status code (None for an email).  Raises on a failure to send."""
    sub = delivery.subscription
    if sub.channel == Channel.EMAIL:
        if not sub.user.email:
            raise targets.InvalidTarget(f"{sub.user.get_username()} has no email address")
        subject, text = messages.email_text(delivery)
        send_mail(subject, text, None, [sub.user.email])
        return None
    sent_at = timezone.now()
    data = messages.slack_body(delivery) if sub.format == Format.SLACK else messages.body(delivery, sent_at)
    raw = messages.encode(data)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "qportal-webhooks/1",
        "X-Qportal-Event": delivery.event,
        "X-Qportal-Delivery": str(delivery.id),
        "X-Qportal-Timestamp": str(int(sent_at.timestamp())),
        messages.SIGNATURE_HEADER: messages.sign(sub.decrypt_secret(), raw),
    }
    return targets.post(sub.url, raw, headers, settings.WEBHOOK_TIMEOUT)


def attempt(delivery_id: int, number: int) -> str | None:
    """Send a claimed delivery and record the outcome: its new status, or None if it is gone or
    another sender has since claimed it."""
    delivery = Delivery.objects.select_related("subscription__user").filter(id=delivery_id).first()
    if delivery is None or delivery.attempts != number:
        return None
    started = time.monotonic()
    code, error, final = None, "", False
    try:
        code = send(delivery)
        if code is not None and not 200 <= code < 300:
            error = f"HTTP {code}"
    except targets.InvalidTarget as exc:
        error, final = str(exc), True  # will not change by retrying
    except Exception as exc:  # noqa: BLE001 - any failure to send is the attempt's outcome
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return record(delivery_id, number, code, error[:ERROR_CHARS], int((time.monotonic() - started) * 1000), final)


def record(delivery_id: int, number: int, code: int | None, error: str, duration_ms: int, final: bool) -> str | None:
    now = timezone.now()
    waits = settings.NOTIFY_RETRY_WAITS
    if not error:
        fields = {"status": DeliveryStatus.DELIVERED, "delivered_at": now}
    elif final or number > len(waits):
        fields = {"status": DeliveryStatus.FAILED}
    else:
        fields = {"status": DeliveryStatus.PENDING, "next_attempt_at": now + timedelta(seconds=waits[number - 1])}
    with transaction.atomic():
        written = Delivery.objects.filter(id=delivery_id, attempts=number, status=DeliveryStatus.SENDING).update(
            lease_until=None, last_status_code=code, last_error=error, **fields
        )
        Attempt.objects.filter(delivery_id=delivery_id, number=number).update(
            finished=now, duration_ms=duration_ms, status_code=code, error=error, ok=not error
        )
    return fields["status"] if written else None


def run_once(limit: int = 100, worker: str = "") -> list[str | None]:
    """Dispatch, then send what is due, in this thread (tests and ``manage.py`` use it)."""
    dispatch.dispatch()
    return [attempt(*claimed) for claimed in claim(limit, worker)]


async def run_forever(runner) -> None:
    """The worker's notification loop (started by ``JobRunner.serve`` from ``WORKER_LOOPS``)."""
    loop = asyncio.get_running_loop()
    db = ThreadPoolExecutor(1, thread_name_prefix="notify-db")
    senders = ThreadPoolExecutor(settings.NOTIFY_CONCURRENCY, thread_name_prefix="notify-send")
    in_flight: set[asyncio.Future] = set()
    log.info("notifications: sending from worker %s", runner.worker_id)
    try:
        while True:
            try:
                await loop.run_in_executor(db, _dispatch)
                free = settings.NOTIFY_CONCURRENCY - len(in_flight)
                if free > 0:
                    for claimed in await loop.run_in_executor(db, claim, free, runner.worker_id):
                        future = loop.run_in_executor(senders, _attempt_logged, *claimed)
                        in_flight.add(future)
                        future.add_done_callback(in_flight.discard)
            except Exception:
                log.exception("notifications: pass failed; retrying")
            await asyncio.sleep(settings.NOTIFY_POLL_SECONDS)
    finally:
        db.shutdown(wait=False)
        senders.shutdown(wait=False)


def _attempt_logged(delivery_id: int, number: int) -> None:
    close_old_connections()
    try:
        attempt(delivery_id, number)
    except Exception:  # its lease expires and it is sent again
        log.exception("notifications: delivery %s attempt %s failed to record", delivery_id, number)


def _dispatch() -> int:
    close_old_connections()
    return dispatch.dispatch()
