"""``/api/v1/notifications``: subscriptions, their test deliveries and their delivery logs.

A webhook's secret is write-only: returned once, in the answer that creates it, never again.
"""

from __future__ import annotations

from datetime import datetime

from ninja import Field, Router, Schema
from ninja.pagination import paginate
from pydantic import SecretStr

from qportal.input import BoundedLimitOffset
from qportal.notifications import services
from qportal.notifications.models import EVENTS

router = Router(tags=["notifications"])


class SubscriptionIn(Schema):
    channel: str = Field(..., description="`email` (to your account's address) or `webhook`")
    scope: str = Field("mine", description="`mine`: the jobs you submit; `team`: every job of `team`")
    team: int | None = Field(None, description="the team of a `team` subscription")
    url: str = Field("", description="webhook: an http(s) URL on a public host")
    secret: SecretStr | None = Field(None, description="webhook: signing secret, 16-200 characters; default: generated")
    format: str = Field("json", description='webhook: `json` (the job) or `slack` (`{"text": ...}`)')
    events: list[str] = Field(list(EVENTS), description=f"any of {', '.join(EVENTS)}")


class SubscriptionOut(Schema):
    id: int
    channel: str
    scope: str
    team: int | None = Field(None, alias="team_id")
    user: str
    url: str = Field("", alias="url_hint", description="origin and last characters only: the URL may be a secret")
    format: str
    events: list[str]
    created: datetime

    @staticmethod
    def resolve_user(obj) -> str:
        return obj.user.get_username()


class CreatedOut(SubscriptionOut):
    secret: str | None = Field(None, description="the webhook's signing secret: shown this once")


class AttemptOut(Schema):
    number: int
    started: datetime
    finished: datetime | None
    duration_ms: int | None
    status_code: int | None
    error: str
    ok: bool


class DeliveryOut(Schema):
    id: int
    event: str
    job: str | None = None
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str
    created: datetime
    delivered_at: datetime | None
    attempt_log: list[AttemptOut]

    @staticmethod
    def resolve_job(obj) -> str | None:
        return str(obj.job_id) if obj.job_id else None

    @staticmethod
    def resolve_attempt_log(obj) -> list:
        return list(obj.attempt_log.all())


@router.get("/notifications", response=list[SubscriptionOut], summary="Your subscriptions and your teams'")
def list_subscriptions(request):
    return list(services.visible(request.user))


@router.post("/notifications", response={201: CreatedOut}, summary="Subscribe to jobs that end")
def create_subscription(request, payload: SubscriptionIn):
    fields = services.Fields(
        channel=payload.channel,
        scope=payload.scope,
        team=payload.team,
        url=payload.url,
        secret=payload.secret.get_secret_value() if payload.secret is not None else None,
        format=payload.format,
        events=payload.events,
    )
    sub, secret = services.create(request.user, fields)
    sub.secret = secret  # this answer only; never stored in clear
    return 201, sub


@router.delete("/notifications/{subscription_id}", response={204: None}, summary="Unsubscribe")
def delete_subscription(request, subscription_id: int):
    services.delete(request.user, services.get(request.user, subscription_id))
    return 204, None


@router.post("/notifications/{subscription_id}/test", response={202: DeliveryOut}, summary="Send a test delivery")
def test_subscription(request, subscription_id: int):
    return 202, services.send_test(services.get(request.user, subscription_id))


@router.get(
    "/notifications/{subscription_id}/deliveries",
    response=list[DeliveryOut],
    summary="The subscription's delivery log, newest first, with every attempt",
)
@paginate(BoundedLimitOffset)
def subscription_deliveries(request, subscription_id: int):
    return services.deliveries(services.get(request.user, subscription_id))
