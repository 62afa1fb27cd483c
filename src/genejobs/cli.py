"""The ``genejobs`` command: serve, submit, jobs, stats, token, ref, simulate, demo."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from genejobs.config import Settings

DEFAULT_URL = "http://127.0.0.1:8765"
DEFAULT_PROJECT = "default"
ENDED = ("FINISHED", "FAILED", "CANCELLED")


def _token_file(settings: Settings) -> Path:
    return settings.home / "token"


def _client_token(settings: Settings) -> str:
    token = os.environ.get("GENEJOBS_TOKEN")
    if token:
        return token
    path = _token_file(settings)
    if path.is_file():
        return path.read_text().strip()
    raise SystemExit(
        "error: no token; set GENEJOBS_TOKEN or run `genejobs serve` once (it writes "
        f"{path}), or create one with `genejobs token create`"
    )


def _service(settings: Settings) -> Any:
    from genejobs.api.app import default_service

    return default_service(settings)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from genejobs.api.app import create_app

    if args.scheduler:
        settings = replace(settings, dask_scheduler=args.scheduler)
    settings.home.mkdir(parents=True, exist_ok=True)
    service = _service(settings)
    token_path = _token_file(settings)
    if args.role in ("all", "api") and not token_path.exists():
        token = service.create_token(user="admin", projects=[DEFAULT_PROJECT], admin=True)
        token_path.write_text(token + "\n")
        token_path.chmod(0o600)
        print(
            f"created an admin token for project '{DEFAULT_PROJECT}' in {token_path}",
            file=sys.stderr,
        )
    runner = notifier = None
    if args.role in ("all", "runner"):
        from genejobs.jobs.notify import Notifier
        from genejobs.jobs.runner import Runner

        runner = Runner(settings)
        runner.start()
        notifier = Notifier(settings, service.sessions)
        notifier.start()
    try:
        if args.role in ("all", "api"):
            app = create_app(settings, service=service)
            uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
        else:
            # SIGTERM (docker stop, a Kubernetes pod deletion) stops the runner politely:
            # its job goes straight back to the queue instead of waiting for the lease.
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            while not stop.wait(3600):
                pass
    except KeyboardInterrupt:
        pass
    finally:
        if runner is not None:
            runner.stop()
        if notifier is not None:
            notifier.stop()
        service.close()
    return 0


def _client(args: argparse.Namespace, settings: Settings) -> Any:
    from genejobs.client import GeneJobsClient

    url = args.url or os.environ.get("GENEJOBS_URL") or DEFAULT_URL
    return GeneJobsClient(url, _client_token(settings))


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2))


def wait_for(client: Any, project: str, job_id: str) -> dict[str, Any]:
    """Follow a job with a progress bar until it ends; returns the final detail."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.fields[status]:<10}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task("job", total=1, status="LAUNCHING")
        while True:
            detail = client.show(project, job_id)
            done, total = (int(x) for x in detail["progress"].split("/"))
            bar.update(task, completed=done, total=total, status=detail["status"])
            if detail["status"] in ENDED:
                return dict(detail)
            time.sleep(1)


def cmd_submit(args: argparse.Namespace, settings: Settings) -> int:
    try:
        request = json.loads(Path(args.request).read_text())
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {args.request}: {exc}", file=sys.stderr)
        return 2
    client = _client(args, settings)
    job_id = client.submit(args.project, request)
    print(job_id)
    if not args.wait:
        return 0
    detail = wait_for(client, args.project, job_id)
    if detail["status"] != "FINISHED":
        print(f"job {job_id} {detail['status']}: {detail['message']}", file=sys.stderr)
        return 1
    print(f"results: {detail.get('outputs', {}).get('table', '')}", file=sys.stderr)
    return 0


def cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    client = _client(args, settings)
    if args.action == "list":
        _print(
            client.list(
                args.project,
                limit=args.limit,
                offset=args.offset,
                start=args.start,
                end=args.end,
                job_type=args.job_type,
            )
        )
    elif args.action == "show":
        _print(client.show(args.project, args.job_id))
    elif args.action == "cancel":
        client.cancel(args.project, args.job_id)
        print(f"cancel requested for {args.job_id}", file=sys.stderr)
    elif args.action == "delete":
        return _delete_job(client, args)
    return 0


def _delete_job(client: Any, args: argparse.Namespace) -> int:
    """Name what will be deleted, ask (unless --yes), then purge the job."""
    from genejobs.jobs.spec import artifacts_folder

    detail = client.show(args.project, args.job_id)
    table, folder = artifacts_folder(json.loads(detail["request"])["output"], args.job_id)
    print(
        f"job {args.job_id} ({detail['status']}): deletes {table}, everything under "
        f"{folder}/ and the job's record",
        file=sys.stderr,
    )
    if not args.yes:
        if not sys.stdin.isatty():
            print("error: not confirmed; add --yes to delete without asking", file=sys.stderr)
            return 2
        if input("delete? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing deleted", file=sys.stderr)
            return 1
    client.purge(args.project, args.job_id)
    print(f"deleted job {args.job_id} and its outputs", file=sys.stderr)
    return 0


def cmd_cache(args: argparse.Namespace, settings: Settings) -> int:
    """Remove this node's cached per-sample results that no job used for a while."""
    from genejobs.jobs.cache import SampleCache

    removed, freed = SampleCache(settings.sample_cache_root).prune(
        unused_for_s=args.older_than * 86400
    )
    print(
        f"removed {removed} cached sample result(s) unused for {args.older_than:g} day(s), "
        f"{freed / 1e6:.1f} MB freed, from {settings.sample_cache_root}"
    )
    return 0


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    _print(_client(args, settings).stats(args.project, start=args.start, end=args.end))
    return 0


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    settings.home.mkdir(parents=True, exist_ok=True)
    service = _service(settings)
    try:
        print(service.create_token(user=args.user, projects=args.project, admin=args.admin))
    finally:
        service.close()
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """A Dask worker as genejobs wants it: all cores for one alignment at a time."""
    address = args.scheduler or settings.dask_scheduler
    if not address:
        print("error: give the scheduler address (or set GENEJOBS_DASK_SCHEDULER)", file=sys.stderr)
        return 2
    threads = args.nthreads or settings.threads_per_worker
    cmd = [
        sys.executable,
        "-m",
        "distributed.cli.dask_worker",
        address,
        "--nthreads",
        str(threads),
        "--nworkers",
        "1",
        "--resources",
        "align=1",
    ]
    if args.name:
        cmd += ["--name", args.name]
    os.execv(sys.executable, cmd)
    return 0  # not reached


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    """Schema migrations: ``upgrade`` the configured database, or write a ``revision``."""
    from genejobs.jobs import migrations
    from genejobs.jobs.db import make_engine

    if args.action == "revision":
        print(migrations.new_revision(args.message))
        return 0
    engine = make_engine(settings.database_url, migrate=False)
    try:
        result = migrations.ensure_schema(engine)
    finally:
        engine.dispose()
    if result.before == result.after:
        print(f"database schema is up to date (revision {result.after})")
    else:
        print(f"database schema upgraded from {result.before or 'none'} to {result.after}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genejobs", description="RNA-seq differential-expression jobs")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API and/or a runner")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--scheduler", help="Dask scheduler address (default: a local cluster)")
    serve.add_argument("--role", choices=["all", "api", "runner"], default="all")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="start a Dask worker for genejobs (align=1 resource)")
    worker.add_argument("scheduler", nargs="?", help="tcp://HOST:PORT (or GENEJOBS_DASK_SCHEDULER)")
    worker.add_argument("--nthreads", type=int, help="threads (default: all cores)")
    worker.add_argument("--name", help="worker name")
    worker.set_defaults(func=cmd_worker)

    def client_opts(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--project", default=DEFAULT_PROJECT)
        sp.add_argument("--url", help=f"service URL (GENEJOBS_URL, default {DEFAULT_URL})")

    submit = sub.add_parser("submit", help="submit a request JSON file")
    submit.add_argument("request")
    submit.add_argument(
        "--wait", action="store_true", help="follow the job; exit 1 unless it finishes"
    )
    client_opts(submit)
    submit.set_defaults(func=cmd_submit)

    jobs = sub.add_parser("jobs", help="list, show, cancel or delete jobs")
    jobs_sub = jobs.add_subparsers(dest="action", required=True)
    jl = jobs_sub.add_parser("list")
    jl.add_argument("--limit", type=int, default=10)
    jl.add_argument("--offset", type=int, default=0)
    jl.add_argument("--start", type=int)
    jl.add_argument("--end", type=int)
    jl.add_argument("--job-type")
    client_opts(jl)
    for name in ("show", "cancel", "delete"):
        sp = jobs_sub.add_parser(name)
        sp.add_argument("job_id")
        if name == "delete":
            sp.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        client_opts(sp)
    jobs.set_defaults(func=cmd_jobs)

    cache = sub.add_parser("cache", help="manage this node's per-sample result cache")
    cache_sub = cache.add_subparsers(dest="action", required=True)
    prune = cache_sub.add_parser("prune", help="remove cached results no job used lately")
    prune.add_argument(
        "--older-than", type=float, default=30.0, metavar="DAYS", help="unused for DAYS (30)"
    )
    cache.set_defaults(func=cmd_cache)

    stats = sub.add_parser("stats", help="job statistics of a project")
    stats.add_argument("--start", type=int)
    stats.add_argument("--end", type=int)
    client_opts(stats)
    stats.set_defaults(func=cmd_stats)

    token = sub.add_parser("token", help="manage API tokens")
    token_sub = token.add_subparsers(dest="action", required=True)
    tc = token_sub.add_parser("create", help="create a token; prints only the token")
    tc.add_argument("--user", required=True)
    tc.add_argument("--project", action="append", required=True)
    tc.add_argument("--admin", action="store_true")
    token.set_defaults(func=cmd_token)

    db = sub.add_parser("db", help="database schema migrations")
    db_sub = db.add_subparsers(dest="action", required=True)
    db_sub.add_parser("upgrade", help="bring the database (GENEJOBS_DATABASE_URL) up to date")
    rev = db_sub.add_parser("revision", help="write a migration for changes to jobs/models.py")
    rev.add_argument("-m", "--message", required=True)
    db.set_defaults(func=cmd_db)

    for name, helptext in (
        ("simulate", "simulate a dataset with known truth"),
        ("ref", "add or list references"),
        ("demo", "run one complete job on simulated data"),
    ):
        sp = sub.add_parser(name, help=helptext, add_help=False)
        sp.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=os.environ.get("GENEJOBS_LOG_LEVEL", "WARNING"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if argv and argv[0] in ("simulate", "ref", "demo"):
        rest = argv[1:]
        if argv[0] == "simulate":
            from genejobs.sim.cli import main as sub_main
        elif argv[0] == "ref":
            from genejobs.references.cli import main as sub_main
        else:
            from genejobs.demo import main as sub_main
        return int(sub_main(rest) or 0)
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    from genejobs.client import ClientError
    from genejobs.errors import GeneJobsError

    try:
        return int(args.func(args, settings))
    except ClientError as exc:
        print(f"error {exc.error_code}: {exc.error_msg}", file=sys.stderr)
        return 2
    except GeneJobsError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
