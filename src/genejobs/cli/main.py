"""The ``genejobs`` command: serve, submit, jobs, stats, token, ref, simulate, demo."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from genejobs import __version__
from genejobs.config import Settings
from genejobs.jobs.states import JobStatus

DEFAULT_URL = "http://127.0.0.1:8765"
DEFAULT_PROJECT = "default"
# The contract's job statuses (a list filter's choices), from the one state table.
STATUSES = tuple(s.value for s in JobStatus)


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


def token_hint(settings: Settings) -> str:
    """Where the CLI's token came from and where a good one comes from (after a 401)."""
    used = (
        "GENEJOBS_TOKEN"
        if os.environ.get("GENEJOBS_TOKEN")
        else f"the token file {_token_file(settings)}"
    )
    return (
        f"the token was read from {used}. A token comes from the service's administrator, "
        "who creates one on the server with `genejobs token create --user NAME --project "
        "PROJECT`; `genejobs serve` writes an admin token to <GENEJOBS_HOME>/token when it "
        "first starts (and `genejobs demo --keep` prints the export lines). Set it with "
        "`export GENEJOBS_TOKEN=gj_...`."
    )


def _service(settings: Settings) -> Any:
    from genejobs.api.app import default_service

    return default_service(settings)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from genejobs.api.app import create_app

    if args.scheduler:
        settings = replace(settings, dask_scheduler=args.scheduler)
    if args.nice:
        os.nice(args.nice)  # before any worker starts: they inherit it
    settings.home.mkdir(parents=True, exist_ok=True)
    service = _service(settings)
    token_path = _token_file(settings)
    created = None
    if args.role in ("all", "api") and not token_path.exists():
        created = service.create_token(user="admin", projects=[DEFAULT_PROJECT], admin=True)
        token_path.write_text(created + "\n")
        token_path.chmod(0o600)
        print(
            f"created an admin token for project '{DEFAULT_PROJECT}' in {token_path}",
            file=sys.stderr,
        )
    if args.role in ("all", "api"):
        print(serve_banner(args.host, args.port, created), flush=True)
    runner = notifier = None
    runner_proc = None
    if args.role == "all":
        # The runner (and its local Dask scheduler and workers) in a process of its own,
        # at a lower CPU priority: running jobs cannot starve the API's event loop,
        # threads or GIL, so list calls answer as fast with jobs running as without.
        runner_proc = _start_runner_process(args)
    if args.role == "runner":
        from genejobs.jobs.notify.delivery import Notifier
        from genejobs.jobs.run.runner import Runner

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
        if runner_proc is not None:
            _stop_runner_process(runner_proc)
        service.close()
    return 0


RUNNER_NICENESS = 10  # below the API: a busy machine serves requests before pipeline work


def _start_runner_process(args: argparse.Namespace) -> subprocess.Popen[bytes]:
    """``genejobs serve --role runner`` as a child, niced, with this process' environment."""
    cmd = [sys.executable, "-m", "genejobs.cli", "serve", "--role", "runner"]
    cmd += ["--nice", str(RUNNER_NICENESS)]
    if args.scheduler:
        cmd += ["--scheduler", args.scheduler]
    return subprocess.Popen(cmd)


def _stop_runner_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the runner puts its job back on the queue), then SIGKILL if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def console_link(url: str, token: str | None = None, project: str = DEFAULT_PROJECT) -> str:
    """The console's address; with a token in the fragment, which signs the browser in
    (a fragment is never sent to the server, so the token stays out of its logs)."""
    link = f"{url.rstrip('/')}/console"
    return f"{link}#token={token}&project={project}" if token else link


def serve_banner(host: str, port: int, created_token: str | None) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{shown}:{port}"
    return f"genejobs serving {url}  console: {console_link(url, created_token)}"


def _client(args: argparse.Namespace, settings: Settings) -> Any:
    from genejobs.client import GeneJobsClient

    url = args.url or os.environ.get("GENEJOBS_URL") or DEFAULT_URL
    return GeneJobsClient(url, _client_token(settings))


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2))


def cmd_submit(args: argparse.Namespace, settings: Settings) -> int:
    from genejobs.cli.samples import print_dry_run, request_from_args

    request = None
    if args.request:
        try:
            request = json.loads(Path(args.request).read_text())
        except (OSError, ValueError) as exc:
            print(f"error: cannot read {args.request}: {exc}", file=sys.stderr)
            return 2
    elif not args.samplesheet:
        print("error: give a request JSON file or --samplesheet", file=sys.stderr)
        return 2
    request = request_from_args(args, request)
    client = _client(args, settings)
    if args.dry_run:
        return print_dry_run(client.dry_run(args.project, request))
    job_id = client.submit(args.project, request)
    print(job_id)
    if not args.wait:
        return 0
    return _follow_to_end(client, args, job_id)


def _samplesheet(args: argparse.Namespace, settings: Settings) -> int:
    from genejobs.cli.samples import cmd_samplesheet

    return cmd_samplesheet(args, _client(args, settings))


def _follow_to_end(client: Any, args: argparse.Namespace, job_id: str) -> int:
    """Live per-sample lines and the time left; then where the results are (exit 1 unless
    the job finished)."""
    from rich.console import Console

    from genejobs.textui import follow, result_paths

    err = Console(stderr=True)
    detail = follow(client, args.project, job_id, console=err)
    if detail["status"] != "FINISHED":
        err.print(f"[red]job {job_id} {detail['status']}: {detail['message']}[/]")
        return 1
    outputs = client.outputs(args.project, job_id)
    for label, uri in result_paths(detail, outputs):
        err.print(f"{label + ':':<15} {uri}", soft_wrap=True)
    url = args.url or os.environ.get("GENEJOBS_URL") or DEFAULT_URL
    err.print(f"{'console:':<15} {console_link(url)}#/jobs/{job_id}", soft_wrap=True)
    return 0


def cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    from genejobs.textui import job_summary, jobs_table

    client = _client(args, settings)
    out = Console()
    if args.action != "list":
        args.job_id = client.resolve(args.project, args.job_id)
    if args.action == "list":
        if args.status or args.name:
            rows, total = _matching_jobs(client, args), None
        else:
            page = client.list(
                args.project,
                limit=args.limit,
                offset=args.offset,
                start=args.start,
                end=args.end,
                job_type=args.job_type,
            )
            rows, total = page["jobs"], page["job_count"]
        if args.json:
            _print({"job_count": len(rows) if total is None else total, "jobs": rows})
        else:
            out.print(jobs_table(rows, total))
    elif args.action == "show":
        detail = client.show(args.project, args.job_id)
        if args.json:
            _print(detail)
        else:
            outputs = (
                client.outputs(args.project, args.job_id)
                if detail["status"]
                in (
                    "FINISHED",
                    "FAILED",
                )
                else []
            )
            out.print(job_summary(detail, outputs))
    elif args.action == "wait":
        return _follow_to_end(client, args, args.job_id)
    elif args.action == "cancel":
        client.cancel(args.project, args.job_id)
        print(f"cancel requested for {args.job_id}", file=sys.stderr)
    elif args.action == "delete":
        return _delete_job(client, args)
    return 0


def _delete_job(client: Any, args: argparse.Namespace) -> int:
    """Name what will be deleted, ask (unless --yes), then purge the job."""
    from genejobs.jobs.request.spec import artifacts_folder

    detail = client.show(args.project, args.job_id)
    table, folder = artifacts_folder(json.loads(detail["request"])["output"], args.job_id)
    written = len(client.outputs(args.project, args.job_id))
    print(
        f"job {args.job_id} ({detail['status']}): deletes the {written} file(s) it wrote "
        f"(its table {table} and its files under {folder}/; nothing else there), then the "
        "job's record (its share links stop working)",
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
    from genejobs.jobs.run.cache import SampleCache

    removed, freed = SampleCache(settings.sample_cache_root).prune(
        unused_for_s=args.older_than * 86400
    )
    print(
        f"removed {removed} cached sample result(s) unused for {args.older_than:g} day(s), "
        f"{freed / 1e6:.1f} MB freed, from {settings.sample_cache_root}"
    )
    return 0


def _matching_jobs(client: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Status and text are filtered by the server; ``--name`` then keeps name matches."""
    name = (args.name or "").lower()
    found: list[dict[str, Any]] = []
    offset = 0
    while len(found) < args.limit:
        page = client.list(
            args.project,
            limit=100,
            offset=offset,
            start=args.start,
            end=args.end,
            job_type=args.job_type,
            status=",".join(args.status) if args.status else None,
            q=args.name or None,
        )
        found += [r for r in page["jobs"] if name in (r.get("name") or "").lower()]
        offset += 100
        if offset >= page["job_count"] or not page["jobs"]:
            break
    return found[: args.limit]


def cmd_outputs(args: argparse.Namespace, settings: Settings) -> int:
    """List a job's outputs, or fetch one through the API (to a file, or stdout with -o -)."""
    client = _client(args, settings)
    args.job_id = client.resolve(args.project, args.job_id)
    if args.link:
        link = client.share(args.project, args.job_id, args.days)
        print(link["url"])  # alone on stdout, for scripts; when it ends on stderr
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(link["expires"] / 1000))
        print(f"anyone with this link can open the report until {when}", file=sys.stderr)
        return 0
    if not args.path:
        from rich.console import Console
        from rich.table import Table

        from genejobs.textui import fmt_bytes

        table = Table(box=None, header_style="bold", pad_edge=False)
        table.add_column("path")
        table.add_column("size", justify="right")
        for o in client.outputs(args.project, args.job_id):
            table.add_row(o["path"], fmt_bytes(o["size"]))
        Console().print(table)
        return 0
    if args.output == "-":
        client.download(args.project, args.job_id, args.path, sys.stdout.buffer)
        return 0
    target = Path(args.output or Path(args.path).name)
    partial = target.with_name(f".{target.name}.part")
    try:
        with open(partial, "wb") as sink:
            size = client.download(args.project, args.job_id, args.path, sink)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    print(f"{target} ({size:,} bytes)", file=sys.stderr)
    return 0


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    """Jobs per state and input size as a table (``--json``: the API's answer as it is)."""
    stats = _client(args, settings).stats(args.project, start=args.start, end=args.end)
    if args.json:
        _print(stats)
        return 0
    from rich.console import Console

    from genejobs.textui import stats_table

    Console().print(stats_table(stats))
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
    from genejobs.jobs.store import migrations
    from genejobs.jobs.store.db import make_engine

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


def _client_opts(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--project", default=DEFAULT_PROJECT)
    sp.add_argument("--url", help=f"service URL (GENEJOBS_URL, default {DEFAULT_URL})")


def _add_client_commands(sub: Any) -> None:
    """The commands that talk to a running service over HTTP."""
    from genejobs.cli.samples import add_samplesheet_command, add_submit_options

    submit = sub.add_parser("submit", help="submit a request JSON file and/or a sample sheet")
    submit.add_argument("request", nargs="?", help="request JSON (optional with --samplesheet)")
    submit.add_argument(
        "--wait", action="store_true", help="follow the job; exit 1 unless it finishes"
    )
    add_submit_options(submit)
    _client_opts(submit)
    submit.set_defaults(func=cmd_submit)
    add_samplesheet_command(sub, _client_opts, lambda args, settings: _samplesheet(args, settings))

    jobs = sub.add_parser("jobs", help="list, show, wait for, cancel or delete jobs")
    jobs_sub = jobs.add_subparsers(dest="action", required=True)
    jl = jobs_sub.add_parser("list")
    jl.add_argument("--limit", type=int, default=10)
    jl.add_argument("--offset", type=int, default=0)
    jl.add_argument("--start", type=int)
    jl.add_argument("--end", type=int)
    jl.add_argument("--job-type")
    jl.add_argument(
        "--status", action="append", choices=list(STATUSES), help="only these (repeatable)"
    )
    jl.add_argument("--name", help="only jobs whose name contains this")
    jl.add_argument("--json", action="store_true", help="the raw rows")
    _client_opts(jl)
    for name, helptext in (
        ("show", "a readable summary of one job"),
        ("wait", "follow a job until it ends; exit 1 unless it finishes"),
        ("cancel", "cancel a job"),
        ("delete", "delete an ended job and its outputs"),
    ):
        sp = jobs_sub.add_parser(name, help=helptext)
        sp.add_argument("job_id", help="the job's id or a unique prefix of 6+ characters")
        if name == "show":
            sp.add_argument("--json", action="store_true", help="the raw detail")
        if name == "delete":
            sp.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        _client_opts(sp)
    jobs.set_defaults(func=cmd_jobs)

    outs = sub.add_parser("outputs", help="list a job's outputs or fetch one")
    outs.add_argument("job_id", help="the job's id or a unique prefix of 6+ characters")
    outs.add_argument("path", nargs="?", help="e.g. report.html, counts.csv, <job_id>.csv")
    outs.add_argument("-o", "--output", help="file to write (default: the file's name; - = stdout)")
    outs.add_argument(
        "--link",
        action="store_true",
        help="print a signed share link to the job's report (no token needed to open it)",
    )
    outs.add_argument(
        "--days", type=int, default=7, help="how long the --link stays valid (1-30 days)"
    )
    _client_opts(outs)
    outs.set_defaults(func=cmd_outputs)

    stats = sub.add_parser("stats", help="job statistics of a project")
    stats.add_argument("--start", type=int)
    stats.add_argument("--end", type=int)
    stats.add_argument("--json", action="store_true", help="the API's raw answer")
    _client_opts(stats)
    stats.set_defaults(func=cmd_stats)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genejobs", description="RNA-seq differential-expression jobs")
    p.add_argument("--version", action="version", version=f"genejobs {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API and/or a runner")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--scheduler", help="Dask scheduler address (default: a local cluster)")
    serve.add_argument("--role", choices=["all", "api", "runner"], default="all")
    serve.add_argument(
        "--nice",
        type=int,
        default=0,
        help="lower this process' CPU priority by N (serve's own runner process gets "
        f"{RUNNER_NICENESS})",
    )
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="start a Dask worker for genejobs (align=1 resource)")
    worker.add_argument("scheduler", nargs="?", help="tcp://HOST:PORT (or GENEJOBS_DASK_SCHEDULER)")
    worker.add_argument("--nthreads", type=int, help="threads (default: all cores)")
    worker.add_argument("--name", help="worker name")
    worker.set_defaults(func=cmd_worker)

    _add_client_commands(sub)

    cache = sub.add_parser("cache", help="manage this node's per-sample result cache")
    cache_sub = cache.add_subparsers(dest="action", required=True)
    prune = cache_sub.add_parser("prune", help="remove cached results no job used lately")
    prune.add_argument(
        "--older-than", type=float, default=30.0, metavar="DAYS", help="unused for DAYS (30)"
    )
    cache.set_defaults(func=cmd_cache)

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
    rev = db_sub.add_parser(
        "revision", help="write a migration for changes to jobs/store/models.py"
    )
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
            from genejobs.cli.simulate import main as sub_main
        elif argv[0] == "ref":
            from genejobs.cli.references import main as sub_main
        else:
            from genejobs.demo import main as sub_main
        from genejobs.errors import GeneJobsError

        try:
            return int(sub_main(rest) or 0)
        except GeneJobsError as exc:  # e.g. the demo's S3 server is not installed
            print(f"error: {exc.message}", file=sys.stderr)
            return 2
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    from genejobs.client import ClientError
    from genejobs.errors import GeneJobsError

    try:
        return int(args.func(args, settings))
    except ClientError as exc:
        print(f"error {exc.error_code}: {exc.error_msg}", file=sys.stderr)
        if exc.status == 401:
            print(token_hint(settings), file=sys.stderr)
        return 2
    except GeneJobsError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
