from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "qportal.jobs"
    label = "jobs"
