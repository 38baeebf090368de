"""Serve the portal with daphne; on the embedded default the job worker shares its event loop."""

import asyncio

from daphne.endpoints import build_endpoint_description_strings
from daphne.server import Server
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve HTTP and websockets (and run the embedded worker unless REDIS_URL says otherwise)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host, port, **options):
        from qportal.asgi import application
        from qportal.embedded import ensure_embedded_worker

        def ready():
            asyncio.get_event_loop().call_soon(ensure_embedded_worker)
            self.stdout.write(f"qportal listening on http://{host}:{port}/", ending="\n")
            self.stdout.flush()

        Server(
            application=ASGIStaticFilesHandler(application),
            endpoints=build_endpoint_description_strings(host=host, port=port),
            ready_callable=ready,
        ).run()
