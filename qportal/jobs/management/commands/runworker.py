"""Production job worker: ``python manage.py runworker`` (any number, on any machine)."""

import asyncio
import signal

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Run a job worker: claims and runs queued jobs, sweeping the database every few seconds; "
        "wake-ups and cancel notices reach it sooner through the Redis channel layer (REDIS_URL)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--concurrency", type=int, default=None, help="jobs run at once (default: settings)")
        parser.add_argument("--worker-id", default=None)

    def handle(self, *args, concurrency=None, worker_id=None, **options):
        from qportal.jobs.worker import JobRunner

        async def main():
            runner = JobRunner(concurrency=concurrency, worker_id=worker_id)
            loop = asyncio.get_running_loop()
            serving = asyncio.create_task(runner.serve())
            stop = asyncio.Event()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            self.stdout.write(f"worker {runner.worker_id} started")
            self.stdout.flush()
            await stop.wait()
            await runner.drain()
            serving.cancel()

        asyncio.run(main())
