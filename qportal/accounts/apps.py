from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "qportal.accounts"
    label = "accounts"
