from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "qportal.jobs"
    label = "jobs"

    parsed_circuits = None  # a ParsedCircuits when the worker runs in this process

    def ready(self):
        from django.conf import settings

        import qportal.handler  # noqa: F401  (registers the Django version check)
        from qportal.jobs.parsed import ParsedCircuits

        if settings.EMBEDDED_WORKER:
            self.parsed_circuits = ParsedCircuits()
