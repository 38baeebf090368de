"""The project's one NinjaAPI: routers per app, domain errors mapped to status codes in one place."""

from __future__ import annotations

from ninja import NinjaAPI
from ninja.errors import AuthenticationError as NinjaAuthError
from ninja.errors import HttpError, Throttled
from ninja.errors import ValidationError as NinjaValidationError

from executors.base import InvalidRequest
from executors.options import InvalidOption
from qportal.accounts.access import Conflict, NotFound, ReadOnly
from qportal.accounts.api import router as accounts_router
from qportal.accounts.audit_api import router as audit_router
from qportal.accounts.keys_api import router as keys_router
from qportal.accounts.teams import TeamInvalid
from qportal.accounts.teams_api import router as teams_router
from qportal.auth import api_auth
from qportal.input import StrictParser
from qportal.jobs.api import router as jobs_router
from qportal.jobs.budgets import BudgetExceeded
from qportal.jobs.device_api import router as device_router
from qportal.jobs.queue_limits import QueueFull
from qportal.jobs.sessions_api import router as sessions_router
from qportal.jobs.usage_api import budget_refusal
from qportal.jobs.usage_api import router as usage_router
from qportal.notifications.api import router as notifications_router
from qportal.profiles.api import router as profiles_router
from qportal.profiles.services import InvalidProfileOption, ProfileInvalid
from qportal.throttle import PersonRateThrottle, refusal

api = NinjaAPI(
    title="qportal API",
    version="1",
    urls_namespace="api-v1",
    auth=api_auth,
    parser=StrictParser(),
    throttle=[PersonRateThrottle()],
    description="Submit quantum circuits, follow jobs, manage executor profiles. "
    "Authenticate with `Authorization: Bearer <api key>` or a browser session.",
)
api.add_router("/", jobs_router)
api.add_router("/", sessions_router)
api.add_router("/", profiles_router)
api.add_router("/", device_router)
api.add_router("/", accounts_router)
api.add_router("/", audit_router)
api.add_router("/", keys_router)
api.add_router("/", teams_router)
api.add_router("/", notifications_router)
api.add_router("/", usage_router)


@api.exception_handler(InvalidRequest)
def invalid_request(request, exc: InvalidRequest):
    body = {"detail": str(exc)}
    if exc.index is not None:
        body["circuit"] = exc.index
    if exc.line is not None:
        body["line"] = exc.line
    return api.create_response(request, body, status=400)


@api.exception_handler(InvalidOption)
def invalid_option(request, exc: InvalidOption):
    """A job's option: the answer names the field's dotted path (``options.resilience.zne``)."""
    field = "options" if exc.field == "options" else f"options.{exc.field}"
    return api.create_response(request, {"detail": str(exc), "field": field}, status=400)


@api.exception_handler(InvalidProfileOption)
def invalid_profile_option(request, exc: InvalidProfileOption):
    return api.create_response(request, {"detail": str(exc), "field": exc.field}, status=400)


# Domain errors whose message is the whole answer, and the status each one maps to.
DOMAIN_ERRORS = {ProfileInvalid: 400, TeamInvalid: 400, ReadOnly: 403, NotFound: 404, Conflict: 409}


def _answer_with(status: int):
    def handler(request, exc):
        return api.create_response(request, {"detail": str(exc)}, status=status)

    return handler


for error_class, status in DOMAIN_ERRORS.items():
    api.add_exception_handler(error_class, _answer_with(status))


@api.exception_handler(QueueFull)
def queue_full(request, exc: QueueFull):
    response = api.create_response(request, {"detail": str(exc)}, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(BudgetExceeded)
def budget_exceeded(request, exc: BudgetExceeded):
    return budget_refusal(api, request, exc)


@api.exception_handler(HttpError)
def http_error(request, exc: HttpError):
    """ninja reports any body-parser failure as "Cannot parse request body"; the parser's own
    reason (qportal.input) is more use to a person."""
    if isinstance(exc.__cause__, InvalidRequest):
        return invalid_request(request, exc.__cause__)
    if isinstance(exc, Throttled):  # ninja adds Retry-After
        return api.create_response(request, {"detail": refusal(exc.wait)}, status=429)
    return api.create_response(request, {"detail": exc.message}, status=exc.status_code)


@api.exception_handler(NinjaAuthError)
def unauthorized(request, exc):
    return api.create_response(
        request, {"detail": "authentication required: send 'Authorization: Bearer <api key>' or log in"}, status=401
    )


@api.exception_handler(NinjaValidationError)
def validation_error(request, exc: NinjaValidationError):
    problems = []
    for err in exc.errors:
        where = ".".join(str(p) for p in err.get("loc", []) if p not in ("body", "payload"))
        problems.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return api.create_response(request, {"detail": "; ".join(problems), "errors": exc.errors}, status=422)
