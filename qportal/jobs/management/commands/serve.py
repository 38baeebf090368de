"""Serve the portal (uvicorn by default, with qportal.serving's read deadlines and per-client cap;
daphne on request); on the embedded default the job worker shares the server's event loop."""

import asyncio

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve HTTP and websockets (and run the embedded worker unless REDIS_URL says otherwise)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--server",
            choices=("uvicorn", "daphne"),
            default="uvicorn",
            help="uvicorn (default: less CPU per request and per websocket frame) or daphne",
        )

    def handle(self, *args, host, port, server, **options):
        from qportal.asgi import application

        app = ASGIStaticFilesHandler(application)
        if server == "daphne":
            self._daphne(app, host, port)
        else:
            self._uvicorn(app, host, port)

    def _listening(self, host, port) -> None:
        from qportal.embedded import ensure_embedded_worker

        ensure_embedded_worker()
        self.stdout.write(f"qportal listening on http://{host}:{port}/", ending="\n")
        self.stdout.flush()

    def _uvicorn(self, app, host, port) -> None:
        import uvicorn
        import uvloop

        from qportal.serving import GuardedHttpProtocol

        config = uvicorn.Config(
            app, host=host, port=port, loop="none", http=GuardedHttpProtocol, lifespan="off", log_level="warning"
        )
        server = uvicorn.Server(config)

        async def main():
            serving = asyncio.create_task(server.serve())
            while not server.started and not serving.done():
                await asyncio.sleep(0.05)
            if server.started:
                self._listening(host, port)
            await serving

        uvloop.run(main())

    def _daphne(self, app, host, port) -> None:
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        Server(
            application=app,
            endpoints=build_endpoint_description_strings(host=host, port=port),
            ready_callable=lambda: asyncio.get_event_loop().call_soon(self._listening, host, port),
        ).run()
