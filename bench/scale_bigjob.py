"""Big jobs (issue 14): 1000 circuits x 16 qubits x 100,000 shots on `local`, end to end.

Run by hand:  .venv/bin/python bench/scale_bigjob.py [--circuits 1000] [--shots 100000]
              [--requests 20] [--page-loads 5] [--embedded] [--redis-db 13]
(to be wired in as `bench/bench_scale.py bigjob`; `main(argv)` takes the same arguments.)

Circuits: --circuits copies of qiskit's `efficient_su2(16, reps=2)` (ry, rz, cx; 126 gates) with
random angles per circuit (seeded, rounded to 6 decimals so 1000 of them stay under the 4,000,000
characters of OpenQASM 2 a job may send), `measure_all`, as OpenQASM 2 (`qiskit.qasm2.dumps`).
At 100,000 shots each has about 24,000 distinct outcomes: that is what makes the results heavy.

Measured in the same run, in this order:
  direct   the call a user would write, in a child process of its own (so its memory is its own):
           the circuits parsed from the same QASM, then, timed, `SamplerV2().run(circuits,
           shots=N).result()` and `get_counts()` of each (qiskit-aer, default options: Aer picks
           its threads; it samples every shot and returns a bit array per shot). Its peak RSS too.
  portal   production mode on loopback: a throwaway PostgreSQL database, Redis db --redis-db
           (flushed), one uvicorn process (`web`) and one `manage.py runworker` (`worker`, with its
           QPORTAL_SIM_PROCESSES simulator children: the default, one per CPU). A warm-up job
           first. Then, timed, `POST /api/v1/jobs` with every circuit and `GET
           /api/v1/jobs/{id}?wait=60` until done (submit -> done). The portal runs the same Aer
           SamplerV2 per chunk (the job split across the simulator processes, about 8 chunks in
           all, each stored as it finishes); 16 qubits are far above the bounds of the tiny jobs
           it samples from exact probabilities, so both sides sample shot by shot.
           Its events (`GET /api/v1/jobs/{id}/events`) say where the time went.
  reads    --requests x `GET /api/v1/jobs/{id}` (per-circuit summaries) and `GET
           /api/v1/jobs/{id}/results?offset=0&limit=50` (a page of full results): size, p50;
           then `GET /api/v1/jobs/{id}/download?format=npz` and `jsonl`, streamed: size, time.
  page     the job page `/jobs/<id>/` in headless Chromium (/usr/bin/chromium, Playwright; a
           password set for the bench user, logged in through the form): the navigation's
           `loadEventEnd`, --page-loads times, p50.
  memory   every 50 ms, VmRSS and VmHWM (/proc/<pid>/status) of web, worker and the worker's
           children; VmHWM is reset (`clear_refs` 5) at each phase, so each phase has its own peak.
With --embedded, the same job on the embedded default too (`manage.py serve`, SQLite, the worker
in the web process): submit -> done and peak RSS.
Targets (issue 14): portal within 1.3x of the direct call, the job page loaded in under 1 s,
the web and worker processes' memory bounded (the bound is stated in bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
import psutil  # noqa: E402

from bench._portal import PYTHON, embedded_portal, load, production_portal, uvicorn_args  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
QUBITS = 16
MIB = 2**20


def circuits_qasm(count: int, seed: int = 14) -> list[str]:
    """``count`` seeded random-angle efficient_su2 circuits of 16 qubits, measured, as OpenQASM 2."""
    import numpy as np
    from qiskit import qasm2
    from qiskit.circuit.library import efficient_su2

    rng = np.random.default_rng(seed)
    ansatz = efficient_su2(QUBITS, reps=2)
    sources = []
    for _ in range(count):
        circuit = ansatz.assign_parameters(np.round(rng.uniform(0, 2 * np.pi, ansatz.num_parameters), 6))
        circuit.measure_all()
        sources.append(qasm2.dumps(circuit))
    return sources


# ---- the direct call, in a child process -------------------------------------------------------


def direct_child(path: str, shots: int, batch: int = 0) -> None:
    """What the child runs: parse, then time SamplerV2 + get_counts (in batches of ``batch``
    circuits when given, keeping only the counts: the whole call's bit arrays of 1000 circuits
    need ~16 GiB); one JSON line on stdout."""
    import resource

    from qiskit import QuantumCircuit
    from qiskit_aer.primitives import SamplerV2

    circuits = [QuantumCircuit.from_qasm_str(source) for source in json.loads(Path(path).read_text())]
    step = batch or len(circuits)
    run_seconds = count_seconds = 0.0
    counts = []
    for start in range(0, len(circuits), step):
        began = time.perf_counter()
        result = SamplerV2().run(circuits[start : start + step], shots=shots).result()
        ran = time.perf_counter()
        counts += [pub.data.meas.get_counts() for pub in result]
        del result
        run_seconds, count_seconds = run_seconds + ran - began, count_seconds + time.perf_counter() - ran
    print(
        json.dumps(
            {
                "seconds": run_seconds + count_seconds,
                "run": run_seconds,
                "counts": count_seconds,
                "outcomes": statistics.mean(len(c) for c in counts),
                "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            }
        )
    )


def direct(sources: list[str], shots: int, batch: int = 0) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(sources, file)
    try:
        out = subprocess.run(
            [PYTHON, __file__, "--direct-child", file.name, "--shots", str(shots), "--direct-batch", str(batch)],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        os.unlink(file.name)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---- memory ------------------------------------------------------------------------------------


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in bytes ({} once it is gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    fields = {}
    for line in lines:
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) * 1024
    return fields


class MemoryWatch(threading.Thread):
    """Peak memory per phase of the web process, the worker process and the worker's children.

    Every ``interval``: each process's VmHWM (its own peak since the phase began: reset by
    ``clear_refs`` at each phase) and VmRSS; the children's peak is the largest single child's,
    ``worker+children`` the largest sum of the RSS seen at one sample.
    """

    def __init__(self, web: int, worker: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.web, self.worker, self.interval = web, worker, interval
        self.phases: dict[str, dict[str, int]] = {}
        self.current = ""
        self.lock = threading.Lock()
        self.halt = threading.Event()

    def children(self) -> list[int]:
        try:
            return [child.pid for child in psutil.Process(self.worker).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def phase(self, name: str) -> None:
        with self.lock:
            for pid in {self.web, self.worker, *self.children()}:
                try:
                    Path(f"/proc/{pid}/clear_refs").write_text("5")
                except OSError:
                    pass  # gone, or not ours: the sampled RSS still counts
            self.current = name
            self.phases[name] = {}
        self.sample()

    def sample(self) -> None:
        with self.lock:
            if not self.current:
                return
            peak = self.phases[self.current]

            def note(key: str, value: int) -> None:
                peak[key] = max(peak.get(key, 0), value)

            for role, pid in (("web", self.web), ("worker", self.worker)):
                status = _status(pid)
                note(role, max(status.get("VmHWM", 0), status.get("VmRSS", 0)))
            together = _status(self.worker).get("VmRSS", 0)
            for pid in self.children():
                status = _status(pid)
                note("child", max(status.get("VmHWM", 0), status.get("VmRSS", 0)))
                together += status.get("VmRSS", 0)
            note("worker+children", together)

    def run(self) -> None:
        while not self.halt.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self.sample()
        self.halt.set()


def mib(value: int) -> str:
    return f"{value / MIB:7.0f} MiB"


# ---- the portal --------------------------------------------------------------------------------


def run_job(client: httpx.Client, sources: list[str], shots: int) -> tuple[str, float, float, int]:
    """Submit the job and wait for it; (id, submit seconds, submit -> done seconds, body bytes)."""
    body = json.dumps({"profile": "local", "shots": shots, "circuits": [{"qasm": s} for s in sources]})
    started = time.perf_counter()
    resp = client.post("/api/v1/jobs", content=body, headers={"Content-Type": "application/json"})
    submitted = time.perf_counter()
    if resp.status_code != 201:
        raise RuntimeError(f"submission refused: {resp.status_code} {resp.text[:500]}")
    job = resp.json()["id"]
    deadline = started + 3600
    while time.perf_counter() < deadline:
        status = client.get(f"/api/v1/jobs/{job}", params={"wait": 60}).json()["status"]
        if status == "done":
            return job, submitted - started, time.perf_counter() - started, len(body)
        if status in ("failed", "cancelled"):
            raise RuntimeError(f"job {job} {status}: {client.get(f'/api/v1/jobs/{job}').json().get('error')}")
    raise RuntimeError(f"job {job} not done after an hour")


def timeline(client: httpx.Client, job: str) -> list[str]:
    """The job's events as offsets from its first event."""
    from datetime import datetime

    events = client.get(f"/api/v1/jobs/{job}/events").json()
    first = datetime.fromisoformat(events[0]["created"]).timestamp()
    lines = []
    for event in events:
        offset = datetime.fromisoformat(event["created"]).timestamp() - first
        lines.append(f"    {offset:8.2f} s  {event['kind']:<10} {event['status']:<9} {event['message'][:70]}")
    return lines


def timed_gets(client: httpx.Client, path: str, params: dict, count: int) -> tuple[int, float]:
    """(answer bytes, p50 seconds) of ``count`` GETs."""
    samples, size = [], 0
    for _ in range(count):
        started = time.perf_counter()
        resp = client.get(path, params=params)
        samples.append(time.perf_counter() - started)
        resp.raise_for_status()
        size = len(resp.content)
    return size, statistics.median(samples)


def streamed(client: httpx.Client, path: str, params: dict) -> tuple[int, float]:
    """(bytes, seconds) of one streamed download, read in pieces and dropped."""
    size = 0
    started = time.perf_counter()
    with client.stream("GET", path, params=params) as resp:
        resp.raise_for_status()
        for piece in resp.iter_bytes():
            size += len(piece)
    return size, time.perf_counter() - started


def page_loads(base: str, job: str, username: str, password: str, count: int) -> list[dict]:
    """``count`` loads of the job page in headless Chromium: the navigation timing of each (ms)."""
    from playwright.sync_api import sync_playwright

    loads = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()
            page.set_default_timeout(120_000)
            page.goto(f"{base}/login/")
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/")
            for _ in range(count):
                page.goto(f"{base}/jobs/{job}/", wait_until="load")
                page.wait_for_function("performance.getEntriesByType('navigation')[0].loadEventEnd > 0")
                loads.append(
                    page.evaluate(
                        "(() => { const n = performance.getEntriesByType('navigation')[0];"
                        " return {load: n.loadEventEnd, dom: n.domContentLoadedEventEnd,"
                        " response: n.responseEnd, bytes: n.decodedBodySize}; })()"
                    )
                )
        finally:
            browser.close()
    return loads


def set_password(portal, username: str) -> str:
    """A fresh random password for ``username`` (never written anywhere but the throwaway DB)."""
    password = secrets.token_urlsafe(18)
    portal.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model\n"
        f"u = get_user_model().objects.get(username={username!r})\n"
        f"u.set_password({password!r})\n"
        "u.save()\n",
    )
    return password


def production_run(sources: list[str], args: argparse.Namespace, figures: dict) -> None:
    with production_portal(redis_db=args.redis_db) as portal:
        web = portal.spawn("uvicorn", uvicorn_args(portal.port, 1))
        worker = portal.spawn(
            "worker",
            [PYTHON, "manage.py", "runworker", "--worker-id", "bench-bigjob", "--concurrency", "4"],
            wait=False,
        )
        password = set_password(portal, "bench")
        with httpx.Client(base_url=portal.base, headers=portal.headers(), timeout=600) as client:
            run_job(client, sources[:4], 1000)  # warm-up: the worker's simulator processes start
            time.sleep(1)
            watch = MemoryWatch(web.pid, worker.pid)
            watch.start()
            watch.phase("idle")
            time.sleep(0.5)
            watch.phase("job")
            job, submit, seconds, body = run_job(client, sources, args.shots)
            figures["portal"] = seconds
            figures["submit"] = submit
            figures["body"] = body
            print(
                f"  portal submit -> done      {seconds:8.2f} s   (POST answered in {submit:.2f} s, body {body / MIB:.1f} MiB)"
            )
            print("  the job's events (from `queued`):")
            print("\n".join(timeline(client, job)))

            watch.phase("reads")
            path = f"/api/v1/jobs/{job}"
            figures["detail"] = timed_gets(client, path, {}, args.requests)
            figures["page"] = timed_gets(client, f"{path}/results", {"offset": 0, "limit": 50}, args.requests)
            watch.phase("downloads")
            figures["npz"] = streamed(client, f"{path}/download", {"format": "npz"})
            figures["jsonl"] = streamed(client, f"{path}/download", {"format": "jsonl"})
            for name in ("detail", "page"):
                size, p50 = figures[name]
                print(f"  GET {name:<8} {size / 1e6:9.3f} MB   p50 {p50 * 1e3:8.1f} ms  (n={args.requests})")
            for name in ("npz", "jsonl"):
                size, took = figures[name]
                print(f"  download {name:<5} {size / 1e6:9.1f} MB   {took:8.2f} s")

            watch.phase("browser")
            loads = page_loads(portal.base, job, "bench", password, args.page_loads)
            figures["browser"] = loads
            watch.stop()
            print(
                "  job page in Chromium: load "
                + ", ".join(f"{entry['load']:.0f}" for entry in loads)
                + f" ms; HTML {loads[0]['bytes'] / 1e3:.0f} kB, answer complete at {loads[0]['response']:.0f} ms"
            )
        figures["memory"] = watch.phases
        print("  peak memory by phase (VmHWM, reset at each phase; child: the largest simulator child):")
        print(f"    {'phase':<10} {'web':>11} {'worker':>11} {'child':>11} {'worker+children':>16}")
        for name, peak in watch.phases.items():
            print(
                f"    {name:<10} {mib(peak.get('web', 0))} {mib(peak.get('worker', 0))} "
                f"{mib(peak.get('child', 0))} {mib(peak.get('worker+children', 0)):>16}"
            )


def embedded_run(sources: list[str], args: argparse.Namespace, figures: dict) -> None:
    with embedded_portal() as portal:
        serve = portal.procs[0]
        with httpx.Client(base_url=portal.base, headers=portal.headers(), timeout=600) as client:
            run_job(client, sources[:4], 1000)
            time.sleep(1)
            watch = MemoryWatch(serve.pid, serve.pid)
            watch.start()
            watch.phase("job")
            _, _, seconds, _ = run_job(client, sources, args.shots)
            watch.stop()
        figures["embedded"] = seconds
        figures["embedded_memory"] = watch.phases["job"]
        peak = watch.phases["job"]
        print(
            f"  embedded submit -> done    {seconds:8.2f} s   peak serve {mib(peak.get('web', 0))}, "
            f"child {mib(peak.get('child', 0))}"
        )


def report(figures: dict, args: argparse.Namespace) -> None:
    base = figures["direct"]["seconds"]
    loads = figures["browser"]
    load_p50 = statistics.median(entry["load"] for entry in loads) / 1e3
    job_memory = figures["memory"]["job"]
    later = [figures["memory"][name] for name in ("reads", "downloads", "browser")]
    rows = [
        ("direct SamplerV2 + get_counts", f"{base:.2f} s", "baseline", ""),
        ("portal submit -> done", f"{figures['portal']:.2f} s", "<= 1.3x", verdict(figures["portal"] / base, 1.3)),
    ]
    if "embedded" in figures:
        rows.append(
            ("embedded default submit -> done", f"{figures['embedded']:.2f} s", "<= 1.3x",
             verdict(figures["embedded"] / base, 1.3))
        )  # fmt: skip
    rows += [
        ("GET /jobs/{id}: size, p50", f"{figures['detail'][0] / 1e3:.1f} kB, {figures['detail'][1] * 1e3:.1f} ms", "", ""),
        ("GET /results?limit=50: size, p50", f"{figures['page'][0] / 1e6:.1f} MB, {figures['page'][1] * 1e3:.0f} ms", "", ""),
        ("download npz: size, time", f"{figures['npz'][0] / 1e6:.1f} MB, {figures['npz'][1]:.2f} s", "", ""),
        ("download jsonl: size, time", f"{figures['jsonl'][0] / 1e6:.1f} MB, {figures['jsonl'][1]:.2f} s", "", ""),
        ("job page load in Chromium, p50", f"{load_p50 * 1e3:.0f} ms", "< 1 s", "met" if load_p50 < 1 else "MISSED"),
        ("peak RSS web (job / later)", f"{job_memory.get('web', 0) / MIB:.0f} / "
         f"{max(p.get('web', 0) for p in later) / MIB:.0f} MiB", "bounded", ""),
        ("peak RSS worker (job / later)", f"{job_memory.get('worker', 0) / MIB:.0f} / "
         f"{max(p.get('worker', 0) for p in later) / MIB:.0f} MiB", "bounded", ""),
        ("peak RSS largest simulator child", f"{job_memory.get('child', 0) / MIB:.0f} MiB", "", ""),
        ("peak RSS worker + children", f"{job_memory.get('worker+children', 0) / MIB:.0f} MiB", "", ""),
        ("peak RSS direct call's process", f"{figures['direct']['peak_rss'] / MIB:.0f} MiB", "", ""),
    ]  # fmt: skip
    print(f"\n{args.circuits} circuits x {QUBITS} qubits x {args.shots} shots, profile `local`")
    print(f"  {'figure':<36} {'value':<24} {'target':<9} verdict")
    for name, value, target, note in rows:
        print(f"  {name:<36} {value:<24} {target:<9} {note}")


def verdict(ratio: float, target: float) -> str:
    return f"{ratio:.2f}x: {'met' if ratio <= target else 'MISSED'}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--circuits", type=int, default=1000)
    parser.add_argument("--shots", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20, help="GETs of the detail and of a results page")
    parser.add_argument("--page-loads", type=int, default=5, help="loads of the job page in Chromium")
    parser.add_argument("--embedded", action="store_true", help="also run the job on the embedded default")
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument(
        "--direct-batch", type=int, default=0, help="run the direct call in batches of N circuits (0: one call)"
    )
    parser.add_argument("--direct-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.direct_child:
        direct_child(args.direct_child, args.shots, args.direct_batch)
        return

    print(f"before: {load()}")
    sources = circuits_qasm(args.circuits)
    print(f"{args.circuits} circuits, {sum(map(len, sources)) / 1e6:.2f} M characters of OpenQASM 2")
    figures: dict = {}
    figures["direct"] = direct(sources, args.shots, args.direct_batch)
    d = figures["direct"]
    print(
        f"  direct SamplerV2           {d['seconds']:8.2f} s   (run {d['run']:.2f} s, get_counts {d['counts']:.2f} s; "
        f"{d['outcomes']:.0f} distinct outcomes per circuit; peak RSS {d['peak_rss'] / MIB:.0f} MiB)   {load()}"
    )
    production_run(sources, args, figures)
    print(f"  {load()}")
    if args.embedded:
        embedded_run(sources, args, figures)
    report(figures, args)
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
