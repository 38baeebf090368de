"""The first owner of a lab: a user with a password (and email) and a shared team they own.

Everyone else joins by invitation from the Teams page, so nobody needs to be a superuser.
"""

from __future__ import annotations

import getpass
import sys

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from qportal.accounts import teams


class Command(BaseCommand):
    help = "Create USERNAME with a password, owning a new team named --team (invite everyone else from /teams/)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--team", required=True, help="the shared team's name, e.g. 'Quantum lab'")
        parser.add_argument("--email", default="", help="for password resets and invitation emails")
        parser.add_argument(
            "--password-stdin", action="store_true", help="read the password from standard input (scripts)"
        )

    def handle(self, *args, username, team, email, password_stdin, **options):
        users = get_user_model()
        existing = users.objects.filter(username=username).first()
        if existing is not None and existing.password and existing.has_usable_password():
            raise CommandError(f"{username!r} already exists with a password: log in and create the team at /teams/")
        password = sys.stdin.readline().rstrip("\n") if password_stdin else self._ask()
        candidate = existing or users(username=username, email=email)
        try:
            validate_password(password, candidate)
            name = teams.clean_name(team)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except teams.TeamInvalid as exc:
            raise CommandError(f"--team: {exc}") from None
        with transaction.atomic():
            user = existing or users.objects.create_user(username, email=email)
            if email:
                user.email = email
            user.set_password(password)
            user.save()
            made = teams.create(user, name)
        self.stdout.write(f"{username} owns the team {made.name!r} (id {made.id}); log in and invite people at /teams/")

    def _ask(self) -> str:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise CommandError("the passwords differ")
        return password
