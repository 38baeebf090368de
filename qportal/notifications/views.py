"""The notifications page: subscriptions, a form to add one, and each one's recent deliveries.

A new webhook's secret is shown on the page that answers the form (never redirected through the
session or a cookie) and never again.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from qportal.accounts.access import NotFound, ReadOnly
from qportal.accounts.models import Membership
from qportal.notifications import services
from qportal.notifications.models import EVENTS, Channel, Format

RECENT = 10
BADGE = {"delivered": "done", "failed": "failed", "sending": "running", "pending": "queued"}


class SubscriptionForm(forms.Form):
    target = forms.ChoiceField(label="Jobs", help_text="Your own jobs, or every job of a team.")
    channel = forms.ChoiceField(choices=Channel.choices, initial=Channel.EMAIL)
    url = forms.CharField(
        label="URL", max_length=2000, required=False, help_text="Webhook only: an http(s) URL on a public host."
    )
    format = forms.ChoiceField(
        choices=[(Format.JSON, "JSON: the job"), (Format.SLACK, 'Slack: {"text": ...}')],
        initial=Format.JSON,
        required=False,
        help_text="Webhook only. The secret that signs it is shown once, after you subscribe.",
    )
    events = forms.MultipleChoiceField(
        choices=[(e, e.removeprefix("job.")) for e in EVENTS],
        initial=list(EVENTS),
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, memberships=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = [("mine", "My jobs")] + [
            (str(m.team_id), f"Team {m.team.name}") for m in memberships
        ]

    def to_fields(self) -> services.Fields:
        data = self.cleaned_data
        team = None if data["target"] == "mine" else int(data["target"])
        return services.Fields(
            channel=data["channel"],
            scope="mine" if team is None else "team",
            team=team,
            url=data["url"].strip() if data["channel"] == Channel.WEBHOOK else "",
            format=data["format"] or Format.JSON,
            events=data["events"],
        )


def _page(request, form=None, error: str = "", created=None, secret=None, status: int = 200):
    memberships = list(Membership.objects.filter(user=request.user).select_related("team").order_by("team__name"))
    subs = list(services.visible(request.user))
    for sub in subs:
        sub.recent = list(services.deliveries(sub)[:RECENT])
        for d in sub.recent:
            d.badge = BADGE.get(d.status, "")
    form = form or SubscriptionForm(memberships=memberships)
    context = {"subscriptions": subs, "form": form, "error": error, "created": created, "secret": secret}
    return render(request, "notifications/list.html", context, status=status)


@login_required
def notification_list(request):
    if request.method != "POST":
        return _page(request)
    memberships = Membership.objects.filter(user=request.user).select_related("team")
    form = SubscriptionForm(request.POST, memberships=memberships)
    if not form.is_valid():
        return _page(request, form, status=400)
    try:
        sub, secret = services.create(request.user, form.to_fields())
    except services.SubscriptionInvalid as exc:
        return _page(request, form, str(exc), status=400)
    except ReadOnly as exc:
        return _page(request, form, str(exc), status=403)
    except NotFound:
        raise Http404("team not found") from None
    return _page(request, created=sub, secret=secret, status=201 if secret else 200)


def _subscription(request, subscription_id: int):
    try:
        return services.get(request.user, subscription_id)
    except NotFound:
        raise Http404("notification not found") from None


@login_required
@require_POST
def notification_delete(request, subscription_id: int):
    services.delete(request.user, _subscription(request, subscription_id))
    flash.success(request, "Subscription deleted.")
    return redirect("notification-list")


@login_required
@require_POST
def notification_test(request, subscription_id: int):
    services.send_test(_subscription(request, subscription_id))
    flash.success(request, "A test delivery is queued; a worker sends it within seconds.")
    return redirect("notification-list")
