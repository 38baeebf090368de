from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_save


def give_personal_team(sender, instance, created, raw=False, **kwargs):
    """Every user owns a personal team from the start (createsuperuser, admin, scripts alike)."""
    if created and not raw:
        from qportal.accounts.access import personal_team

        personal_team(instance)


class AccountsConfig(AppConfig):
    name = "qportal.accounts"
    label = "accounts"

    def ready(self):
        post_save.connect(give_personal_team, sender=settings.AUTH_USER_MODEL, dispatch_uid="qportal-personal-team")
