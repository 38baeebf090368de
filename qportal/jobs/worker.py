"""The job manager: claims jobs from the database and drives them through the executor core.

One ``JobRunner`` per process, a Channels background consumer: it joins the message bus
(``qportal.jobs.bus``) and receives ``job.wake`` hints and ``job.cancel`` notices on its own
channel of the bus's channel layer.  It also sweeps the database every few seconds, so a lost
hint only costs latency.  Each job runs as its own task under a
semaphore; a heartbeat task renews the lease and notices cancel requests.  Losing the lease
(another worker took over) stops the job silently.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import threading
import uuid

from asgiref.sync import sync_to_async
from django.apps import apps
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.utils.module_loading import import_string

from executors import isolation
from executors.base import (
    AuthenticationError,
    ExecutorError,
    InlineExecutor,
    InvalidRequest,
    JobCancelled,
    JobHandle,
    RemoteExecutor,
    RemoteJobFailed,
    SimulatorDied,
    TransientError,
)
from executors.registry import build_executor, simulator_classes
from qportal.accounts import checks, usage_checks
from qportal.jobs import bus, provenance, session_worker, simulate_first, store
from qportal.jobs.models import JobStatus
from qportal.jobs.parsed import ParsedCircuits
from qportal.startup import freeze_loaded_objects

log = logging.getLogger(__name__)

MAX_TRANSIENT_ATTEMPTS = 5


def db(fn):
    """Run a store function in the worker's one sync thread, on a connection kept open between calls.

    Opening a connection per call cost more than the queries (benchmark 2 in bench/README.md); a
    connection that failed is closed so the next call opens a fresh one.
    """

    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (OperationalError, InterfaceError):
            connection.close()
            raise

    return sync_to_async(wrapped, thread_sensitive=True)


class JobRunner:
    def __init__(
        self,
        *,
        worker_id: str | None = None,
        concurrency: int | None = None,
        lease_seconds: int | None = None,
        sweep_seconds: float | None = None,
        parsed_circuits: ParsedCircuits | None = None,
        message_bus: bus.Bus | None = None,
    ):
        """``parsed_circuits``: circuits parsed at submission (default: this process's, kept only
        when the worker runs in the web process).  ``message_bus``: where wake-ups and cancel
        notices come from (default: this process's, ``bus.current()``)."""
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.concurrency = concurrency or settings.WORKER_CONCURRENCY
        self.lease_seconds = lease_seconds or settings.WORKER_LEASE_SECONDS
        self.sweep_seconds = sweep_seconds or settings.WORKER_SWEEP_SECONDS
        self.parsed_circuits = (
            parsed_circuits if parsed_circuits is not None else apps.get_app_config("jobs").parsed_circuits
        )
        self.bus = message_bus if message_bus is not None else bus.current()
        self.tasks: dict[object, asyncio.Task] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._background: set[asyncio.Task] = set()
        self._executors: dict[tuple, object] = {}
        self._pokes: dict[str, asyncio.Event] = {}
        self._full = False  # the last sweep took every free slot: more jobs may be waiting

    def wake(self) -> None:
        self._wake.set()

    async def serve(self) -> None:
        """Sweep forever, woken early by the messages of the bus.

        Simulations run in child processes here (see ``executors.isolation``) so that a long
        local job cannot stall heartbeats, other jobs or, in the embedded default, the web server.
        """
        isolation.enable(
            settings.WORKER_SIM_PROCESSES, warm=simulator_classes(), memory_bytes=settings.SIM_MEMORY_BYTES
        )
        await asyncio.to_thread(isolation.warm_up)
        freeze_loaded_objects()  # the simulators' imports and pools, loaded by the warm-up
        # Joined before the first sweep, so that no wake-up falls between the two.
        listener = asyncio.create_task(self._listen(await self._join()))
        # Apps above jobs (notifications) run loops of their own here, named by dotted path in
        # settings, so jobs never imports them.
        extras = [asyncio.create_task(import_string(path)(self)) for path in settings.WORKER_LOOPS]
        log.info("worker %s started (concurrency %d)", self.worker_id, self.concurrency)
        try:
            timer = True
            while not self._stopping:
                try:
                    if timer:  # credential checks ride the timer, off the submit-to-claim path
                        await self.check_credentials()
                    await self.sweep()
                except Exception:
                    log.exception("sweep failed; retrying")
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.sweep_seconds)
                    timer = False
                except TimeoutError:
                    timer = True
                self._wake.clear()
        finally:
            listener.cancel()
            for task in extras:
                task.cancel()

    async def drain(self) -> None:
        """Stop claiming and wait for the running jobs (SIGTERM)."""
        self._stopping = True
        self.wake()
        if self.tasks:
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)

    async def _join(self) -> str | None:
        try:
            return await self.bus.join(self.worker_id)
        except Exception as exc:
            log.warning("cannot join the message bus (%s); the sweeper keeps going", exc)
            return None

    async def _listen(self, channel: str | None) -> None:
        """Receive this worker's messages on ``channel`` of the bus's layer (joining first when it
        is None, after a failed join); on the way out, leave."""
        if channel is None:
            while channel is None:
                await asyncio.sleep(1)
                channel = await self._join()
            self.wake()  # wake-ups sent before the join were lost
        layer = self.bus.layer
        try:
            while True:
                try:
                    message = await layer.receive(channel)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("channel layer receive failed (%s); the sweeper keeps going", exc)
                    await asyncio.sleep(1)
                    continue
                if message.get("type") == bus.WAKE:
                    self.wake()
                elif message.get("type") == bus.CANCEL:
                    self.check_now(message.get("job"))
        finally:
            try:
                await self.bus.leave(self.worker_id, channel)
            except Exception as exc:
                log.debug("leaving the bus: %s", exc)

    def check_now(self, job_id) -> None:
        """Run the heartbeat of ``job_id`` at once (it notices a cancel request)."""
        poke = self._pokes.get(str(job_id))
        if poke is not None:
            poke.set()

    async def sweep(self) -> int:
        free = self.concurrency - len(self.tasks)
        claimed, pending = await db(self._claim_and_run_tiny)(free)
        self._full = claimed >= free
        if self._full and len(pending) < claimed:
            self.wake()  # jobs finished inline left their slots free, and more may be waiting
        for claim, loaded, failure in pending:
            task = asyncio.create_task(self._run(claim, loaded, failure))
            self.tasks[claim.job_id] = task
            task.add_done_callback(lambda _t, job_id=claim.job_id: self._finished(job_id))
        return claimed

    def _claim_and_run_tiny(self, limit: int) -> tuple[int, list[tuple[store.Claim, store.Loaded, Exception | None]]]:
        """``store.claim_and_load``; then, still in the database thread, each tiny in-process job is
        run and finished there (``InProcessExecutor.run_inline``: a Bell circuit simulates in about
        the time of the event loop round trips it would otherwise take).  Returns how many jobs were
        claimed, and the rest to run as tasks, with the failure of an inline run to record.
        """
        claims = store.claim_and_load(self.worker_id, limit, self.lease_seconds, self.parsed_circuits)
        pending = []
        for claim, loaded in claims:
            executor = self._inline_executor(loaded)
            if executor is None:
                pending.append((claim, loaded, None))
                continue
            try:
                result = executor.run_inline(loaded.request)
                if result is None:
                    pending.append((claim, loaded, None))
                    continue
                store.finish_done(
                    loaded,
                    result.circuits,
                    result.execution_time,
                    result.remote_ids,
                    result.metadata,
                    used=result.usage,
                )
            except (OperationalError, InterfaceError) as exc:  # a broken connection: the next call opens one
                connection.close()
                pending.append((claim, loaded, exc))
            except Exception as exc:  # recorded by _run, as a failure of the job's execution
                pending.append((claim, loaded, exc))
        return len(claims), pending

    def _inline_executor(self, loaded: store.Loaded):
        """The executor of a job the claim started (in-process kinds), not to be cancelled, if it can
        run jobs in this thread; else None.  (``_executor_for`` may race the loop's: at worst one
        executor is built twice.)"""
        if not isinstance(loaded, store.WorkItem) or loaded.cancel_requested or loaded.status != JobStatus.RUNNING:
            return None
        try:
            executor = self._executor_for(loaded)
        except Exception:  # an executor that cannot be built: _run records why
            return None
        return executor if isinstance(executor, InlineExecutor) else None

    async def check_credentials(self) -> None:
        """Validate newly saved IBM credentials and refresh instances' usage in the background (building a
        service is slow)."""
        for cred_id in await db(checks.claim_unchecked)():
            self._in_background(checks.check_credential, cred_id)
        for cred_id in await db(usage_checks.claim_due)():  # the instance's remaining seconds
            self._in_background(usage_checks.refresh_in_thread, cred_id)

    def _in_background(self, function, *args) -> None:
        task = asyncio.create_task(asyncio.to_thread(function, *args))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _finished(self, job_id) -> None:
        self.tasks.pop(job_id, None)
        if self._full:  # a slot is free and jobs may be waiting for one: look at once
            self.wake()

    async def run_until_idle(self, timeout: float = 60) -> None:
        """Process jobs until none is queued or active (tests and one-shot use)."""

        async def loop():
            while True:
                await self.sweep()
                if self.tasks:
                    await asyncio.wait(list(self.tasks.values()), return_when=asyncio.FIRST_COMPLETED)
                    continue
                if not await db(store.pending_work_exists)():
                    return
                await asyncio.sleep(0.05)

        await asyncio.wait_for(loop(), timeout)

    async def _run(self, claim: store.Claim, loaded: store.Loaded, failure: Exception | None = None) -> None:
        """Run one claimed job; ``loaded`` is its work item as ``store.claim_and_load`` read it, and
        ``failure`` what ended its inline run (``_claim_and_run_tiny``), recorded as any execution's."""
        item = loaded
        if isinstance(loaded, ExecutorError):
            await db(store.finish_failed)(claim, f"cannot prepare job: {loaded}")
            return
        if isinstance(loaded, Exception):
            log.error("cannot load job %s", claim.job_id, exc_info=loaded)
            await db(store.finish_failed)(claim, f"cannot prepare job: {type(loaded).__name__}")
            return
        if item is None:
            return
        if item.cancel_requested:
            used = await self.stop_remote_of(item)
            await db(store.finish_failed)(item, "cancelled", kind="cancelled", used=used)
            return
        handle_box: dict[str, JobHandle] = {}
        executor = None
        main = asyncio.current_task()
        cancel_flag = {"requested": False}
        heartbeat = asyncio.create_task(self._heartbeat(item, main, cancel_flag))
        try:
            if failure is not None:
                raise failure
            executor = self._executor_for(item)
            await self._execute(item, executor, handle_box)
        except asyncio.CancelledError:
            if cancel_flag["requested"] or await self._stop_wanted(item):
                await self._stop_remote(item, executor, handle_box)
                used = await self._charged(executor, handle_box)
                await db(store.finish_failed)(item, "cancelled while running", kind="cancelled", used=used)
            # otherwise the lease was lost: the new owner decides; write nothing
        except JobCancelled:
            used = await self._charged(executor, handle_box)
            await db(store.finish_failed)(item, "cancelled", kind="cancelled", used=used)
        except AuthenticationError as exc:
            if item.credential_id:
                await db(store.mark_credential_invalid)(item.credential_id, str(exc))
            await db(store.finish_failed)(item, f"credential refused: {exc}")
        except (InvalidRequest, RemoteJobFailed, SimulatorDied) as exc:  # final: a rerun would end the same way
            await db(store.finish_failed)(item, str(exc), used=await self._charged(executor, handle_box))
        except TransientError as exc:
            if item.attempt >= MAX_TRANSIENT_ATTEMPTS:
                await db(store.finish_failed)(item, f"gave up after {item.attempt} attempts: {exc}")
            else:
                delay = min(60.0, 2**item.attempt) * random.uniform(0.5, 1.0)
                await db(store.requeue)(item, f"transient fault: {exc}", delay)
        except Exception as exc:
            log.exception("job %s failed unexpectedly", item.job_id)
            await db(store.finish_failed)(item, f"internal error ({type(exc).__name__}); see the worker log")
        finally:
            heartbeat.cancel()

    def _executor_for(self, item: store.WorkItem):
        """One executor per profile version, so clusters keep their rotation across jobs; a portal
        session's jobs share one executor of their own while it lasts (its IBM session, its noise
        model), dropped by ``forget_session``."""
        if item.request.session is not None:
            key = ("session", item.request.session.key)
            if key not in self._executors:
                self._executors[key] = build_executor(item.spec)
            return self._executors[key]
        executor = self._executors.get(item.profile_version)
        if executor is None:
            executor = build_executor(item.spec)
            self._executors = {k: v for k, v in self._executors.items() if k[0] != item.profile_version[0]}
            self._executors[item.profile_version] = executor
        return executor

    def kept_sessions(self) -> list[str]:
        """The portal sessions whose executor this worker keeps."""
        return [key[1] for key in self._executors if key[0] == "session"]

    def forget_session(self, session_key: str):
        """Drop (and return) the executor kept for a portal session's jobs, if any."""
        return self._executors.pop(("session", session_key), None)

    async def _execute(self, item: store.WorkItem, executor, handle_box: dict) -> None:
        loop = asyncio.get_running_loop()
        saver = _ResultSaver(item, loop)
        shown = {"sub_status": "executing"}  # what mark_running writes

        def on_progress(text: str):
            if text == shown["sub_status"]:
                return  # store.set_sub_status would write nothing; spare the round trip
            shown["sub_status"] = text
            asyncio.run_coroutine_threadsafe(db(store.set_sub_status)(item, text), loop)

        item.request.on_circuit = saver.add
        item.request.on_progress = on_progress
        session_worker.bind(item.request)
        if simulate_first.wanted(item):  # the noisy twin's predicted fidelity, before device time
            await simulate_first.before_submit(item, executor, db)
        handle = await self._submit_or_reattach(item, executor, handle_box)
        if handle.calibration or handle.choice:  # what it runs against, and why there (qportal.jobs.provenance)
            details = provenance.run_details(item.spec, item.request, handle.choice)
            await db(provenance.record_run)(item.job_id, item.attempt, handle.calibration, details)
        await self._remote_estimate(item, executor, handle)
        result = await executor.result(handle)
        saved = await saver.wait()
        await db(store.finish_done)(
            item,
            result.circuits,
            result.execution_time,
            result.remote_ids or handle.remote_ids,
            result.metadata,
            saved,
            used=result.usage,
        )

    async def _submit_or_reattach(self, item: store.WorkItem, executor, handle_box: dict) -> JobHandle:
        """Remote jobs are never duplicated: reattach by id, else find by tag, else submit once.
        The handle goes into ``handle_box`` at once, so a job stopped before it is marked running
        (an owner's fail during the submit) still has its remote job cancelled."""
        if isinstance(executor, RemoteExecutor):
            if item.remote_ids:
                handle = handle_box["handle"] = await executor.reattach(item.remote_ids, item.request)
                await db(store.mark_running)(item, handle.remote_ids, "reattached to remote job")
                return handle
            if item.submit_key:
                handle = await executor.find_by_tag(item.submit_key, item.request)
                if handle is not None:
                    handle_box["handle"] = handle
                    await db(store.mark_running)(item, handle.remote_ids, "recovered remote job by its tag")
                    return handle
            key = item.submit_key or uuid.uuid4().hex
            if not await db(store.save_submit_key)(item, key):
                raise asyncio.CancelledError()
            item.request.submit_key = key
        handle = handle_box["handle"] = await executor.submit(item.request)
        if item.status == JobStatus.RUNNING and not isinstance(executor, RemoteExecutor):
            return handle  # the claim already marked it running (store.RUNS_IN_WORKER)
        if not await db(store.mark_running)(item, handle.remote_ids, f"running on {item.profile_name}"):
            raise asyncio.CancelledError()
        return handle

    async def _heartbeat(self, item: store.WorkItem, main: asyncio.Task, cancel_flag: dict) -> None:
        interval = max(0.5, self.lease_seconds / 3)
        poke = self._pokes[str(item.job_id)] = asyncio.Event()
        try:
            await self._beat(item, main, cancel_flag, interval, poke)
        finally:
            self._pokes.pop(str(item.job_id), None)

    async def _beat(self, item: store.WorkItem, main: asyncio.Task, cancel_flag: dict, interval: float, poke) -> None:
        while True:
            try:
                await asyncio.wait_for(poke.wait(), timeout=interval)
            except TimeoutError:
                pass
            poke.clear()
            try:
                ours, cancel = await db(store.renew_lease)(item.job_id, item.attempt, self.lease_seconds)
            except Exception as exc:
                log.warning("heartbeat for %s failed: %s", item.job_id, exc)
                continue
            if not ours or cancel:
                cancel_flag["requested"] = bool(cancel)
                if not ours and not cancel:
                    log.warning("job %s: lease lost, stopping", item.job_id)
                main.cancel()
                return

    async def _stop_wanted(self, item: store.WorkItem) -> bool:
        """After a write of this attempt found the job gone from it: was it stopped (cancelled,
        failed by an owner, deleted) rather than taken over by another worker?"""
        try:
            return (await db(store.renew_lease)(item.job_id, item.attempt, self.lease_seconds))[1]
        except Exception as exc:  # noqa: BLE001 - unknown: leave the remote job to whoever holds it
            log.warning("job %s: could not tell why it left this worker: %s", item.job_id, exc)
            return False

    async def _stop_remote(self, item: store.WorkItem, executor, handle_box: dict) -> None:
        """Cancel the job's remote job; one stopped while its submit was on the way is found by
        its submit key's tag (the submit went on in its thread and may have reached IBM)."""
        handle = handle_box.get("handle")
        if handle is None and isinstance(executor, RemoteExecutor) and item.request.submit_key:
            try:
                handle = handle_box["handle"] = await executor.find_by_tag(item.request.submit_key)
            except ExecutorError as exc:
                log.info("remote job of a stopped submit not looked up: %s", exc)
        if executor is None or handle is None:
            return
        try:
            await executor.cancel(handle)
        except ExecutorError as exc:
            log.info("remote cancel answered: %s", exc)

    async def _remote_estimate(self, item: store.WorkItem, executor, handle: JobHandle) -> None:
        """Record the remote service's estimate of the job's QPU seconds once it is submitted
        (IBM's ``usage_estimation``); a job runs on whether or not it can be read."""
        estimate = getattr(executor, "usage_estimate", None)
        if estimate is None:
            return
        try:
            found = await estimate(handle)
        except ExecutorError as exc:
            log.info("IBM's usage estimate not read: %s", exc)
            return
        if found:
            await db(store.record_remote_estimate)(item, found)

    async def _charged(self, executor, handle_box: dict) -> dict:
        """What the remote service charged for a job that ended without results (IBM bills a failed
        or cancelled job for the time it ran); empty for other executors or when it cannot say."""
        handle = handle_box.get("handle")
        charged = getattr(executor, "usage_of", None)
        if handle is None or charged is None:
            return {}
        try:
            return await charged(handle)
        except ExecutorError as exc:
            log.info("usage of a stopped job not read: %s", exc)
            return {}

    async def stop_remote_of(self, item: store.WorkItem) -> dict:
        """Cancel the remote job of a job this worker does not run (a cancel its dead worker never
        acted on; a fail while no live worker held it, ``qportal.jobs.abandoned``), found by id or
        else by its submit tag, and return what the remote service charged; empty if none."""
        if not item.remote_ids and not item.submit_key:
            return {}  # nothing was ever sent
        try:
            executor = self._executor_for(item)
            if not isinstance(executor, RemoteExecutor):
                return {}
            box = {"handle": await executor.reattach(item.remote_ids)} if item.remote_ids else {}
        except ExecutorError as exc:
            log.info("remote job of %s not reattached: %s", item.job_id, exc)
            return {}
        await self._stop_remote(item, executor, box)
        return await self._charged(executor, box)


def _release(result) -> None:
    """Drop a stored circuit result's distributions: the executor's list of results (returned at the
    end) holds these same objects, and a 1000-circuit job's counts would otherwise stay in the
    worker's memory until the job ends (bench/README.md, big jobs)."""
    result.counts = result.register_counts = result.probabilities = result.memory = None
    result.metadata = {}


class _ResultSaver:
    """Stores a running job's circuit results as the executor reports them (``on_circuit``, from
    any thread): the results reported in one go (a chunk) become one transaction and one event
    (``store.save_circuit_results``).  A report of every circuit at once is left to the finish,
    which writes them with the job's end."""

    def __init__(self, item: store.WorkItem, loop: asyncio.AbstractEventLoop):
        self.item = item
        self.loop = loop
        self.total = len(item.request.circuits)
        self.saved: set[int] = set()
        self._buffer: list = []
        self._lock = threading.Lock()
        self._tasks: list[asyncio.Task] = []

    def add(self, result) -> None:
        with self._lock:
            self._buffer.append(result)
            first = len(self._buffer) == 1
        if first:  # flushed once the reporting call has returned: its other results join this one
            self.loop.call_soon_threadsafe(self._flush)

    def _flush(self) -> None:
        with self._lock:
            results, self._buffer = self._buffer, []
        if results and len({r.index for r in results} | self.saved) < self.total:
            self._tasks.append(asyncio.ensure_future(self._save(results)))

    async def _save(self, results: list) -> None:
        if await db(store.save_circuit_results)(self.item, results, self.total):
            self.saved.update(r.index for r in results)
            for result in results:  # stored: the finish writes none of them, so let their data go
                _release(result)

    async def wait(self) -> frozenset[int]:
        """Once every reported result is stored (or failed to be): the circuits stored so far."""
        await asyncio.sleep(0)  # a flush scheduled by the last report runs first
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        return frozenset(self.saved)
