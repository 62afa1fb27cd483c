"""Dask wiring: a remote scheduler when one is configured, else a local cluster.

The same code runs either way (as Prefect's DaskTaskRunner does): the runner
only ever sees a ``distributed.Client``.
"""

from __future__ import annotations

import logging

from distributed import Client, LocalCluster

from genejobs.config import Settings

log = logging.getLogger(__name__)

# Each worker offers one unit of this resource and each sample task asks for one,
# so a worker runs one alignment at a time, using all of its threads for mappy.
ALIGN_RESOURCE = "align"


def make_client(settings: Settings) -> Client:
    """Connect to ``settings.dask_scheduler``, or start a private ``LocalCluster``.

    Remote workers should be started with ``--resources align=1`` (see
    ``ALIGN_RESOURCE``); without it sample tasks simply run without that limit.
    """
    if settings.dask_scheduler:
        log.info("connecting to the Dask scheduler at %s", settings.dask_scheduler)
        return Client(settings.dask_scheduler, set_as_default=False)
    cluster = LocalCluster(
        n_workers=settings.dask_workers,
        threads_per_worker=settings.threads_per_worker,
        processes=True,
        dashboard_address=None,
        resources={ALIGN_RESOURCE: 1},
    )
    log.info(
        "started a local Dask cluster: %d worker(s) x %d thread(s)",
        settings.dask_workers,
        settings.threads_per_worker,
    )
    return Client(cluster, set_as_default=False)


def close_client(client: Client) -> None:
    """Close the client and, if ``make_client`` started one, its local cluster.

    A client made from a cluster object keeps it as ``client.cluster`` but does not
    close it; a client of a scheduler address has ``client.cluster`` None.
    """
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()


def sample_resources(client: Client) -> dict[str, float] | None:
    """``{"align": 1}`` when some worker offers that resource, else ``None`` (no limit)."""
    workers = client.scheduler_info().get("workers", {})
    if any(ALIGN_RESOURCE in (w.get("resources") or {}) for w in workers.values()):
        return {ALIGN_RESOURCE: 1}
    if workers:
        log.warning(
            "no Dask worker offers the '%s' resource; start workers with "
            "--resources %s=1 so each runs one alignment at a time",
            ALIGN_RESOURCE,
            ALIGN_RESOURCE,
        )
    return None
