from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    name = "qportal.profiles"
    label = "profiles"
