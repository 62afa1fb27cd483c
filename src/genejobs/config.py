"""Settings, built once from flags and the environment and passed down.

No module reads the environment on import: ``Settings.from_env()`` is called by
the entry points (CLI, API factory, tests) and the result handed to whatever
needs it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any


def _split_roots(value: str) -> tuple[Path, ...]:
    return tuple(Path(p).expanduser().resolve() for p in value.split(":") if p.strip())


def _is_remote(value: str) -> bool:
    return "://" in value and value.split("://", 1)[0].lower() in ("s3", "s3a", "obs")


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with the defaults of the embedded single-machine setup."""

    home: Path
    database_url: str
    reference_root: Path
    allowed_roots: tuple[Path, ...]
    s3_endpoint_url: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    dask_scheduler: str | None = None
    dask_workers: int = 1
    threads_per_worker: int = 2
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 5.0
    poll_seconds: float = 0.5
    max_running_jobs_per_project: int = 20
    # a stranded library_type is checked against the reads after this many pairs
    strand_check_pairs: int = 200_000
    cache_root: Path | None = None
    reference_uri: str | None = None  # an S3 prefix shared by all nodes; reference_root caches it
    # Notifications when a job ends (jobs/notify/delivery.py): webhooks go only to these hosts
    # (exact names or CIDR ranges; none by default), signed with the secret.
    webhook_allowed_hosts: tuple[str, ...] = ()
    webhook_secret: str | None = None
    smtp_url: str | None = None  # smtp://[user:password@]host[:port] or smtps://...
    smtp_from: str = "genejobs@localhost"
    notify_retry_seconds: float = 3600.0  # how long failed deliveries are retried
    # Signs share links (jobs/share.py); unset: <home>/share-secret, made once
    share_secret: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``GENEJOBS_*`` and the standard AWS variables; keyword overrides win."""
        e = dict(os.environ if env is None else env)
        home = Path(e.get("GENEJOBS_HOME", "~/.genejobs")).expanduser().resolve()
        db = e.get("GENEJOBS_DATABASE_URL") or f"sqlite:///{home / 'genejobs.db'}"
        roots_env = e.get("GENEJOBS_ALLOWED_ROOTS")
        allowed = _split_roots(roots_env) if roots_env else (home / "data",)
        ref_root = e.get("GENEJOBS_REFERENCE_ROOT", "")
        settings = cls(
            home=home,
            database_url=db,
            reference_root=(
                home / "reference-cache"
                if _is_remote(ref_root)
                else Path(ref_root or str(home / "references")).expanduser().resolve()
            ),
            reference_uri=ref_root if _is_remote(ref_root) else None,
            allowed_roots=allowed,
            s3_endpoint_url=e.get("GENEJOBS_S3_ENDPOINT_URL") or None,
            aws_access_key_id=e.get("AWS_ACCESS_KEY_ID") or None,
            aws_secret_access_key=e.get("AWS_SECRET_ACCESS_KEY") or None,
            dask_scheduler=e.get("GENEJOBS_DASK_SCHEDULER") or None,
            dask_workers=int(e.get("GENEJOBS_DASK_WORKERS", "1")),
            threads_per_worker=int(e.get("GENEJOBS_THREADS_PER_WORKER", str(os.cpu_count() or 2))),
            lease_seconds=float(e.get("GENEJOBS_LEASE_SECONDS", "30")),
            heartbeat_seconds=float(e.get("GENEJOBS_HEARTBEAT_SECONDS", "5")),
            max_running_jobs_per_project=int(e.get("GENEJOBS_MAX_RUNNING_JOBS", "20")),
            strand_check_pairs=int(e.get("GENEJOBS_STRAND_CHECK_PAIRS", "200000")),
            cache_root=Path(e["GENEJOBS_CACHE_ROOT"]) if e.get("GENEJOBS_CACHE_ROOT") else None,
            webhook_allowed_hosts=tuple(
                h.strip()
                for h in e.get("GENEJOBS_WEBHOOK_ALLOWED_HOSTS", "").split(",")
                if h.strip()
            ),
            webhook_secret=e.get("GENEJOBS_WEBHOOK_SECRET") or None,
            smtp_url=e.get("GENEJOBS_SMTP_URL") or None,
            smtp_from=e.get("GENEJOBS_SMTP_FROM") or "genejobs@localhost",
            notify_retry_seconds=float(e.get("GENEJOBS_NOTIFY_RETRY_SECONDS", "3600")),
            share_secret=e.get("GENEJOBS_SHARE_SECRET") or None,
        )
        return replace(settings, **overrides) if overrides else settings

    @property
    def sample_cache_root(self) -> Path:
        return self.cache_root or (self.home / "cache")
