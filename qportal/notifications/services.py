"""Subscriptions: who may make, see and remove which, and the test delivery.

A subscription to one's own jobs ("mine") is personal.  A team subscription hears of every job of
the team: owners and members make them with either channel; a viewer may subscribe themselves by
email only (they can read the team's jobs already; a webhook would send them to a URL of their
choice).  Team subscriptions are visible to, and removable by, the team's owners and members, and
are written to the team's audit trail.  A webhook's secret is stored encrypted and returned once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from executors.base import InvalidRequest
from qportal.accounts import audit
from qportal.accounts.access import NotFound, ReadOnly, membership, team_ids
from qportal.notifications import messages, targets
from qportal.notifications.models import EVENTS, TEST_EVENT, Channel, Delivery, Format, Scope, Subscription

MAX_PER_USER = 50
SECRET_CHARS = (16, 200)


class SubscriptionInvalid(InvalidRequest):
    """A 400 with the message."""


@dataclass
class Fields:
    channel: str
    scope: str = Scope.MINE
    team: int | None = None
    url: str = ""
    secret: str | None = None
    format: str = Format.JSON
    events: list[str] = field(default_factory=lambda: list(EVENTS))


def visible(user) -> QuerySet[Subscription]:
    return Subscription.objects.filter(
        Q(user=user) | Q(scope=Scope.TEAM, team_id__in=team_ids(user, write=True))
    ).select_related("team", "user")


def get(user, subscription_id: int) -> Subscription:
    found = visible(user).filter(id=subscription_id).first()
    if found is None:
        raise NotFound("notification not found")
    return found


def _label(sub: Subscription) -> str:
    return f"{sub.channel} {sub.url_hint}" if sub.channel == Channel.WEBHOOK else f"email to {sub.user.get_username()}"


def _validate(user, fields: Fields) -> None:
    if fields.channel not in Channel.values:
        raise SubscriptionInvalid("channel must be 'email' or 'webhook'")
    if fields.scope not in Scope.values:
        raise SubscriptionInvalid("scope must be 'mine' (your jobs) or 'team' (a team's jobs)")
    if fields.format not in Format.values:
        raise SubscriptionInvalid("format must be 'json' or 'slack'")
    unknown = [e for e in fields.events if e not in EVENTS]
    if unknown or not fields.events:
        raise SubscriptionInvalid(f"events must be one or more of {', '.join(EVENTS)}")
    if fields.scope == Scope.TEAM:
        if fields.team is None:
            raise SubscriptionInvalid("a team subscription names its team")
        found = membership(user, fields.team)  # NotFound outside the team
        if fields.channel == Channel.WEBHOOK and not found.can_write:
            raise ReadOnly(
                f"you are a viewer of team {found.team.name!r}: you may subscribe yourself by email, not a webhook"
            )
    elif fields.team is not None:
        raise SubscriptionInvalid("a subscription to your own jobs names no team")
    if fields.channel == Channel.EMAIL:
        if fields.url or fields.secret:
            raise SubscriptionInvalid("an email subscription takes no url or secret")
        if not user.email:
            raise SubscriptionInvalid("your account has no email address to send to")
    else:
        try:
            targets.check(fields.url)
        except targets.InvalidTarget as exc:
            raise SubscriptionInvalid(f"url: {exc}") from None
        if fields.secret is not None and not SECRET_CHARS[0] <= len(fields.secret) <= SECRET_CHARS[1]:
            raise SubscriptionInvalid(f"a secret has {SECRET_CHARS[0]} to {SECRET_CHARS[1]} characters")
    if Subscription.objects.filter(user=user).count() >= MAX_PER_USER:
        raise SubscriptionInvalid(f"you have {MAX_PER_USER} subscriptions already; delete one first")


def create(user, fields: Fields) -> tuple[Subscription, str | None]:
    """The subscription and, for a webhook, its secret (the one time it is shown)."""
    _validate(user, fields)
    sub = Subscription(
        user=user,
        scope=fields.scope,
        team_id=fields.team if fields.scope == Scope.TEAM else None,
        channel=fields.channel,
        format=fields.format if fields.channel == Channel.WEBHOOK else Format.JSON,
        events=[e for e in EVENTS if e in fields.events],
    )
    secret = None
    if fields.channel == Channel.WEBHOOK:
        sub.url = fields.url
        secret = fields.secret or secrets.token_urlsafe(32)
        sub.set_secret(secret)
    with transaction.atomic():
        sub.save()
        if sub.team_id is not None:
            audit.record(user, sub.team_id, "notification.created", _label(sub), channel=sub.channel, events=sub.events)
    return sub, secret


def delete(user, sub: Subscription) -> None:
    with transaction.atomic():
        if sub.team_id is not None:
            audit.record(user, sub.team_id, "notification.deleted", _label(sub), channel=sub.channel)
        sub.delete()


def send_test(sub: Subscription) -> Delivery:
    """A test delivery, sent by a worker like any other."""
    payload = {"job": None, "url": messages.page_url()}
    return Delivery.objects.create(subscription=sub, event=TEST_EVENT, payload=payload, next_attempt_at=timezone.now())


def deliveries(sub: Subscription) -> QuerySet[Delivery]:
    return sub.deliveries.prefetch_related("attempt_log")


__all__ = ["Fields", "NotFound", "ReadOnly", "SubscriptionInvalid", "create", "delete", "get", "send_test", "visible"]
