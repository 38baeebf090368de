from django.apps import AppConfig


def tell_sockets(sender, user_id: int, **kwargs) -> None:
    """A user joined or left a team (``qportal.accounts.signals``): their open streams follow."""
    from qportal.jobs import bus

    bus.current().notify_teams_changed(user_id)


class JobsConfig(AppConfig):
    name = "qportal.jobs"
    label = "jobs"

    parsed_circuits = None  # a ParsedCircuits when the worker runs in this process

    def ready(self):
        from django.conf import settings

        import qportal.handler  # noqa: F401  (registers the Django version check)
        from qportal.accounts.signals import teams_changed
        from qportal.jobs.parsed import ParsedCircuits

        teams_changed.connect(tell_sockets, dispatch_uid="qportal-jobs-teams-changed")
        if settings.EMBEDDED_WORKER:
            self.parsed_circuits = ParsedCircuits()
