"""Benchmark 2 for two builds side by side: which one answers a Bell job sooner, request by request.

Run by hand:  .venv/bin/python bench/pair_rest_latency.py OTHER_CHECKOUT [--jobs 200]

This machine's speed moves by 2x within an hour (bench/README.md), more than most changes are
worth, so two runs of bench_rest_latency.py at different times compare the machine, not the builds.
This script starts the embedded default of this checkout and of OTHER_CHECKOUT (e.g. a
`git worktree add /tmp/before <commit>`), each with its own server, worker and data, and sends
`POST /api/v1/jobs?wait=30` for a Bell circuit to each in turn, alternating which goes first.
It prints each build's median and in how many pairs this checkout was faster.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parents[1]


def portal_module(checkout: Path, name: str):
    """The ``bench/_portal.py`` of ``checkout``, which starts that checkout's ``manage.py``."""
    spec = importlib.util.spec_from_file_location(name, checkout / "bench" / "_portal.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="another checkout of qportal (with bench/_portal.py)")
    parser.add_argument("--jobs", type=int, default=200, help="jobs per build (default 200)")
    args = parser.parse_args()
    builds = [portal_module(HERE, "this_portal"), portal_module(args.other.resolve(), "other_portal")]
    body = {"profile": "local", "shots": 1024, "circuits": [{"qasm": builds[0].BELL}]}
    print(f"before: {builds[0].load()}")
    with builds[0].embedded_portal() as this, builds[1].embedded_portal() as other:
        clients = [httpx.Client(base_url=p.base, headers=p.headers(), timeout=60) for p in (this, other)]
        for _ in range(30):  # warm both servers and their simulator processes
            for client in clients:
                client.post("/api/v1/jobs", params={"wait": 30}, json=body).raise_for_status()
        took: list[list[float]] = [[], []]
        for i in range(args.jobs):
            for k in (0, 1) if i % 2 == 0 else (1, 0):
                started = time.perf_counter()
                resp = clients[k].post("/api/v1/jobs", params={"wait": 30}, json=body)
                took[k].append(time.perf_counter() - started)
                if resp.status_code != 201 or resp.json()["status"] != "done":
                    raise RuntimeError(f"build {k}: {resp.status_code} {resp.text[:200]}")
    wins = sum(a < b for a, b in zip(took[0], took[1], strict=True))
    for name, samples in ((str(HERE), took[0]), (str(args.other), took[1])):
        print(f"  {name:<40} POST ?wait= p50 {statistics.median(samples) * 1e3:7.2f} ms")
    print(f"  this checkout faster in {wins} of {args.jobs} pairs")
    print(f"after: {builds[0].load()}")


if __name__ == "__main__":
    sys.exit(main())
