from django.core.management.base import BaseCommand

from qportal.accounts.access import ensure_user
from qportal.accounts.models import ApiKey


class Command(BaseCommand):
    help = "Create an API key for USERNAME (creating the user and their personal team if missing)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="default", help="a label for the key")

    def handle(self, *args, username, name, **options):
        user = ensure_user(username)
        _, key = ApiKey.issue(user, name)
        self.stdout.write(f"API key {name!r} for {user.get_username()} (shown once, store it safely):")
        self.stdout.write(key)
