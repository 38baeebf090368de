from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "qportal.jobs"
    label = "jobs"

    def ready(self):
        import qportal.handler  # noqa: F401  (registers the Django version check)
