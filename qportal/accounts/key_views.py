"""The Keys page: your API keys (create, see the new one once, revoke) and, for owners, the keys
members use on their teams.

A new key is in the answer to the POST that makes it (not stored, not redirected to, not cached);
revoking asks first (``static/js/keys.js``; without the script a page asks).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from qportal.accounts import key_services
from qportal.accounts.access import NotFound
from qportal.accounts.models import Membership, Role


class KeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the key is for, e.g. the script's name.")
    team = forms.TypedChoiceField(
        coerce=int, empty_value=None, required=False, help_text="A team key acts on that team alone."
    )
    expires = forms.IntegerField(
        min_value=1,
        max_value=key_services.MAX_DAYS,
        required=False,
        label="Expires in (days)",
        help_text="Empty: never",
    )
    read_only = forms.BooleanField(required=False, label="Read-only", help_text="Reads only: every write is refused.")

    def __init__(self, *args, teams=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = [("", "All my teams"), *((t.id, t.name) for t in teams)]


def _page(request, form: KeyForm | None = None, new_key: str = "", error: str = "", status: int = 200):
    memberships = list(
        Membership.objects.filter(user=request.user).select_related("team").order_by("-team__personal", "team__name")
    )
    owned = [m.team for m in memberships if m.role == Role.OWNER and not m.team.personal]
    keys = list(key_services.mine(request.user))
    others = [k for t in owned for k in key_services.team_keys(request.user, t.id) if k.user_id != request.user.pk]
    team_sections = [{"team": team, "keys": [k for k in others if k.team_id == team.id]} for team in owned]
    for key in keys + [k for s in team_sections for k in s["keys"]]:
        key.status = key_services.status(key)
    context = {
        "keys": keys,
        "team_sections": team_sections,
        "form": form or KeyForm(teams=[m.team for m in memberships]),
        "new_key": new_key,
        "error": error,
    }
    return render(request, "accounts/keys.html", context, status=status)


@never_cache
@login_required
def key_list(request):
    if request.method != "POST":
        return _page(request)
    teams = [m.team for m in Membership.objects.filter(user=request.user).select_related("team")]
    form = KeyForm(request.POST, teams=teams)
    if not form.is_valid():
        return _page(request, form, status=400)
    data = form.cleaned_data
    try:
        key, text = key_services.create(
            request.user, data["name"], expires=data["expires"], read_only=data["read_only"], team_id=data["team"]
        )
    except (key_services.KeyInvalid, NotFound) as exc:
        return _page(request, form, error=str(exc), status=400)
    messages.success(request, f"Created {key.name} ({key.prefix}).")
    return _page(request, new_key=text)


@login_required
@require_POST
def key_revoke(request, key_id: int):
    try:
        key = key_services.revocable(request.user, key_id)
    except NotFound:
        raise Http404("API key not found") from None
    if request.POST.get("confirm") != "yes":
        return render(request, "accounts/key_revoke.html", {"key": key})
    key_services.revoke(request.user, key)
    messages.success(request, f"Revoked {key.name} ({key.prefix}): it is refused from now on.")
    return redirect("key-list")
