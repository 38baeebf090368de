"""Credentials page: a team's IBM credentials, masked; owners and members add, replace and delete them.

Token inputs are password fields that never render a value back, not even after an error.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from qportal.accounts import credentials
from qportal.accounts.access import NotFound, ReadOnly
from qportal.accounts.models import IBMCredential, Membership

STATUS_BADGE = {"valid": "done", "invalid": "failed", "unchecked": "queued"}


class CredentialForm(forms.Form):
    team = forms.TypedChoiceField(
        coerce=int, help_text="Shared with everyone in the team; only owners and members change it."
    )
    name = forms.CharField(max_length=100, help_text="Profiles refer to the credential by this name.")
    channel = forms.ChoiceField(choices=IBMCredential.Channel.choices, initial=IBMCredential.Channel.PLATFORM)
    token = forms.CharField(
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="IBM Cloud API key. Write-only: stored encrypted, shown as its last four characters.",
    )
    instance = forms.CharField(max_length=300, required=False, help_text="Instance CRN (recommended) or service name")
    url = forms.CharField(max_length=300, required=False, help_text="Leave empty for IBM's default endpoint")

    def __init__(self, *args, teams=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = [(t.id, t.name) for t in teams]


class ReplaceTokenForm(forms.Form):
    token = forms.CharField(widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}))


def _memberships(user) -> list[Membership]:
    return list(Membership.objects.filter(user=user).select_related("team").order_by("-team__personal", "team__name"))


def _page(request, form: CredentialForm | None = None, error: str = "", status: int = 200):
    memberships = _memberships(request.user)
    writable = [m.team for m in memberships if m.can_write]
    creds = list(credentials.visible(request.user).prefetch_related("executorprofile_set"))
    for cred in creds:
        cred.badge = STATUS_BADGE.get(cred.status, "")
        cred.profile_names = sorted(p.name for p in cred.executorprofile_set.all())
    sections = [{"membership": m, "credentials": [c for c in creds if c.team_id == m.team_id]} for m in memberships]
    if form is None and writable:
        wanted = request.GET.get("team", "")
        team = next((t.id for t in writable if str(t.id) == wanted), writable[0].id)
        form = CredentialForm(initial={"team": team}, teams=writable)
    return render(
        request, "accounts/credentials.html", {"sections": sections, "form": form, "error": error}, status=status
    )


@login_required
def credential_list(request):
    if request.method != "POST":
        return _page(request)
    writable = [m.team for m in _memberships(request.user) if m.can_write]
    if not writable:
        return render(
            request,
            "forbidden.html",
            {"message": "You are a viewer in all your teams and cannot add credentials."},
            status=403,
        )
    form = CredentialForm(request.POST, teams=writable)
    if not form.is_valid():
        return _page(request, form, status=400)
    data = form.cleaned_data
    fields = credentials.Fields(
        name=data["name"], token=data["token"], channel=data["channel"], instance=data["instance"], url=data["url"]
    )
    try:
        cred = credentials.create(request.user, data["team"], fields)
    except (credentials.CredentialInvalid, credentials.CredentialConflict) as exc:
        return _page(request, form, str(exc), status=400)
    messages.success(request, f"Saved {cred.name} ({cred.masked}); a worker checks it shortly.")
    return redirect("credential-list")


def _writable(request, cred_id: int) -> IBMCredential:
    try:
        return credentials.get(request.user, cred_id, write=True)
    except NotFound:
        raise Http404("credential not found") from None


def _guarded(view):
    def wrapped(request, cred_id: int):
        try:
            cred = _writable(request, cred_id)
        except ReadOnly as exc:
            return render(request, "forbidden.html", {"message": str(exc)}, status=403)
        return view(request, cred)

    wrapped.__name__ = view.__name__
    return login_required(require_POST(wrapped))


@_guarded
def credential_replace(request, cred: IBMCredential):
    form = ReplaceTokenForm(request.POST)
    if not form.is_valid():
        return _page(request, error=f"{cred.name}: enter the new token", status=400)
    fields = credentials.Fields(
        name=cred.name,
        token=form.cleaned_data["token"],
        channel=cred.channel,
        instance=cred.instance,
        url=cred.url,
        proxies=cred.proxies,
        verify=cred.verify,
    )
    try:
        credentials.update(cred, fields, request.user)
    except credentials.CredentialInvalid as exc:
        return _page(request, error=f"{cred.name}: {exc}", status=400)
    messages.success(request, f"Replaced the token of {cred.name} ({cred.masked}); a worker checks it shortly.")
    return redirect("credential-list")


@_guarded
def credential_check(request, cred: IBMCredential):
    credentials.request_check(cred, request.user)
    messages.success(request, f"{cred.name} will be checked again shortly.")
    return redirect("credential-list")


@_guarded
def credential_delete(request, cred: IBMCredential):
    try:
        credentials.delete(cred, request.user)
    except credentials.CredentialConflict as exc:
        return _page(request, error=str(exc), status=409)
    messages.success(request, f"Deleted {cred.name}.")
    return redirect("credential-list")
