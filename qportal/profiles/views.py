"""Profiles page: every team's shared profiles; owners and members create and edit, viewers read."""

from __future__ import annotations

from django import forms as django_forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from qportal.accounts.access import Conflict, NotFound, ReadOnly
from qportal.accounts.models import Membership
from qportal.profiles.forms import ProfileForm
from qportal.profiles.models import ExecutorProfile
from qportal.profiles.services import (
    InvalidProfileOption,
    ProfileInvalid,
    deletable_profile,
    delete_profile,
    save_profile,
    visible_profiles,
)
from qportal.profiles.validation import validate_profile


def _memberships(user) -> list[Membership]:
    return list(Membership.objects.filter(user=user).select_related("team").order_by("-team__personal", "team__name"))


@login_required
def profile_list(request):
    memberships = _memberships(request.user)
    profiles = list(visible_profiles(request.user).select_related("credential").order_by("name"))
    sections = [{"membership": m, "profiles": [p for p in profiles if p.team_id == m.team_id]} for m in memberships]
    return render(
        request,
        "profiles/list.html",
        {
            "sections": sections,
            "builtins": [p for p in profiles if p.team_id is None],
            "can_create": any(m.can_write for m in memberships),
        },
    )


def _forbidden(request, message: str):
    return render(request, "forbidden.html", {"message": message}, status=403)


@login_required
def profile_edit(request, profile_id: int | None = None):
    memberships = _memberships(request.user)
    writable = [m.team for m in memberships if m.can_write]
    profile = ExecutorProfile(created_by=request.user)
    if profile_id is not None:
        profile = visible_profiles(request.user).filter(id=profile_id).select_related("credential", "team").first()
        if profile is None:
            raise Http404("profile not found")
        if profile.team_id is None:
            return _forbidden(request, "Built-in profiles cannot be edited. Create a team profile instead.")
        if profile.team not in writable:
            return _forbidden(
                request,
                f"You are a viewer of team {profile.team.name!r}: you can use its profiles but not change them.",
            )
    elif not writable:
        return _forbidden(request, "You are a viewer in all your teams and cannot create profiles.")

    if request.method == "POST":
        form = ProfileForm(request.POST, teams=writable, profile=profile)
        if form.is_valid():
            try:
                form.apply(profile)
                validate_profile(profile)
                save_profile(request.user, profile)
                return redirect("profile-list")
            except InvalidProfileOption as exc:
                form.add_error("options", str(exc))
            except ProfileInvalid as exc:
                form.add_error(None, str(exc))
            except django_forms.ValidationError:
                pass
            except Conflict as exc:
                form.add_error("name", str(exc))
        status = 400
    else:
        wanted = request.GET.get("team", "")
        default_team = next((t.id for t in writable if str(t.id) == wanted), writable[0].id if writable else None)
        initial = ProfileForm.initial_for(profile) if profile.pk else {"team": default_team}
        form = ProfileForm(initial=initial, teams=writable, profile=profile)
        status = 200
    return render(request, "profiles/edit.html", {"form": form, "profile": profile}, status=status)


@login_required
@require_POST
def profile_delete(request, profile_id: int):
    """Delete after confirmation: the list's script asks and sends ``confirm=yes``; without the
    script this answers with a page that asks."""
    try:
        profile = deletable_profile(request.user, profile_id)
        if request.POST.get("confirm") != "yes":
            return render(request, "profiles/delete.html", {"profile": profile})
        delete_profile(request.user, profile_id)
    except NotFound:
        raise Http404("profile not found") from None
    except ReadOnly as exc:
        return _forbidden(request, str(exc))
    except Conflict as exc:
        messages.error(request, f"{exc}.")
    else:
        messages.success(request, f"Deleted profile {profile.name}.")
    return redirect("profile-list")
