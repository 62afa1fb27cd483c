"""Scale-out: the same 12-sample job's per-sample work on 1 and on 2 Dask workers.

Each worker has one thread and the ``align`` resource, as ``genejobs worker`` sets
them up, and is confined to a core of its own (with its align processes): a worker's
reading and trimming overlap with its alignment, so an unpinned single worker would
already use more than one core and the ratio would not measure scale-out. The ratio
of wall times is the speed-up (the issue's target: ≥ 1.7×).

    .venv/bin/python bench/bench_workers.py --pairs 30000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from distributed import Client, LocalCluster, Variable

from genejobs.config import Settings
from genejobs.jobs.run.tasks import attempt_variable_name, run_sample_task
from genejobs.pipeline.records import ReadRun, SampleParams, SampleSpec
from genejobs.references.registry import registry_for
from genejobs.sim import SimConfig, simulate


def pin_to_core(core: int) -> None:
    """Confine every thread of this worker process (and what they start later) to ``core``."""
    for tid in os.listdir("/proc/self/task"):
        os.sched_setaffinity(int(tid), {core})


def run(
    n_workers: int, settings: Settings, samples: list[SampleSpec], params: SampleParams
) -> float:
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            resources={"align": 1},
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(lambda: None)  # workers up
        for core, address in enumerate(sorted(client.scheduler_info()["workers"])):
            client.run(pin_to_core, core % os.cpu_count(), workers=[address])
        # as the runner does: the job's attempt token, which every task's stop check reads
        Variable(attempt_variable_name(f"bench-{n_workers}"), client=client).set("bench")
        start = time.perf_counter()
        futures = [
            client.submit(
                run_sample_task,
                f"bench-{n_workers}",
                s,
                params,
                "bench",
                "a.gtf",
                settings,
                pure=False,
                resources={"align": 1},
            )
            for s in samples
        ]
        client.gather(futures)
        return time.perf_counter() - start


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--pairs", type=int, default=30_000)
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="genejobs-bench-") as tmp:
        root = Path(tmp)
        sim = simulate(
            root / "sim", SimConfig(n_genes=300, pairs_per_sample=a.pairs, samples_per_group=6)
        )
        results = {}
        for n in (1, 2):
            # a fresh home per run, so the second run cannot use the first one's sample cache
            settings = Settings.from_env(
                env={
                    "GENEJOBS_HOME": str(root / f"home{n}"),
                    "GENEJOBS_ALLOWED_ROOTS": str(root),
                    "GENEJOBS_THREADS_PER_WORKER": "1",
                }
            )
            registry_for(settings).add("bench", Path(sim.genome), [("a.gtf", Path(sim.gtf))])
            samples = [
                SampleSpec(s, g, (ReadRun(*sim.reads[s]),))
                for g, names in sim.groups.items()
                for s in names
            ]
            results[n] = run(n, settings, samples, SampleParams(adapter=sim.adapter))
            print(
                f"{n} worker(s): {results[n]:.1f} s for {len(samples)} samples x {a.pairs:,} pairs"
            )
        print(f"speed-up 2 vs 1 worker: {results[1] / results[2]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
