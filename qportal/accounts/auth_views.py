"""Accepting an invitation link, and open sign-up (``QPORTAL_OPEN_SIGNUP``, off by default).

Log in, log out, password change and reset are Django's own views (``qportal.accounts.auth_urls``)
with the dashboard's templates under ``templates/registration/``.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import UserCreationForm
from django.http import Http404
from django.shortcuts import redirect, render

from qportal.accounts import invitations


class NewAccountForm(UserCreationForm):
    """A username and a password twice, checked by ``AUTH_PASSWORD_VALIDATORS``."""

    class Meta(UserCreationForm.Meta):
        fields = ("username",)


class SignupForm(NewAccountForm):
    email = forms.EmailField(required=False, help_text="For password resets and invitations")

    class Meta(NewAccountForm.Meta):
        fields = ("username", "email")


class LoginView(auth_views.LoginView):
    """Django's log-in, linking the sign-up page when it is open."""

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "open_signup": settings.OPEN_SIGNUP}


def invitation_accept(request, token: str):
    try:
        invitation = invitations.find(token)
    except invitations.InvitationGone as exc:
        return render(request, "accounts/invitation.html", {"gone": str(exc)}, status=410)
    context = {"invitation": invitation}
    user = request.user
    if user.is_authenticated:
        try:
            invitations.check_user(invitation, user)
        except invitations.WrongUser as exc:
            return render(request, "accounts/invitation.html", {**context, "wrong": str(exc)}, status=403)
        if request.method == "POST":
            return _accepted(request, invitation, lambda: invitations.accept(invitation, user))
        return render(request, "accounts/invitation.html", context)
    if invitation.username:  # an existing user's invitation: they log in first
        return render(request, "accounts/invitation.html", context)
    form = NewAccountForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        return _accepted(
            request, invitation, lambda: invitations.accept_new(invitation, data["username"], data["password1"])
        )
    return render(request, "accounts/invitation.html", {**context, "form": form}, status=400 if form.errors else 200)


def _accepted(request, invitation, accept):
    try:
        joined = accept()
    except invitations.InvitationGone as exc:
        return render(request, "accounts/invitation.html", {"gone": str(exc)}, status=410)
    if not request.user.is_authenticated:
        login(request, joined, backend="django.contrib.auth.backends.ModelBackend")
        joined = True
    team = invitation.team
    if joined is None:
        messages.info(request, f"You were already a member of {team.name}.")
    else:
        messages.success(request, f"Welcome to {team.name}: you joined as {invitation.role}.")
    return redirect("team-detail", team.id)


def signup(request):
    if not settings.OPEN_SIGNUP:
        raise Http404("sign-up is closed: ask a team owner for an invitation")
    if request.user.is_authenticated:
        return redirect("job-list")
    form = SignupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, "Welcome: your jobs run in your personal team. Create or join a team to share.")
        return redirect("team-list")
    return render(request, "registration/signup.html", {"form": form}, status=400 if form.errors else 200)
