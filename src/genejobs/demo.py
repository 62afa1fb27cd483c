"""``genejobs demo``: one complete job on the embedded default, as a new user would run it.

It simulates a small dataset, starts a local S3 server (SeaweedFS) and the
service (``genejobs serve``: SQLite, local Dask cluster), registers the
simulated genome, submits a request shaped like the contract's example through
HTTP, follows it live (a line per sample), and prints the finished
row and where the results are (also copied to a local folder to open).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from genejobs.client import ClientError, GeneJobsClient
from genejobs.config import Settings
from genejobs.references.registry import registry_for
from genejobs.sim.simulate import SimConfig, simulate
from genejobs.storage import Storage, parse_uri
from genejobs.storage.seaweed import LocalS3Server
from genejobs.textui import fmt_duration, follow

BUCKET = "diff-expr"
REF_NAME = "sim1"
GTF_NAME = "sim1.annotation.gtf"
console = Console(stderr=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_request(manifest: Any, *, qc: bool, quantifier: str = "genome") -> dict[str, Any]:
    """The contract's example request, pointing at the simulated data in the bucket."""
    inputs = []
    for group, samples in manifest.groups.items():
        inputs.append(
            {
                "group_name": group,
                "group_inputs": [
                    {
                        "sample_name": name,
                        "files": [
                            f"s3a://{BUCKET}/{name}_R1.fastq.gz",
                            f"s3a://{BUCKET}/{name}_R2.fastq.gz",
                        ],
                    }
                    for name in samples
                ],
            }
        )
    request: dict[str, Any] = {
        "job_type": "RNA_DIFF_EXPR",
        "inputs": inputs,
        "adapt": manifest.adapter,
        "ref": REF_NAME,
        "gtf": GTF_NAME,
        "is_export_qc": qc,
        "library_type": manifest.library_type,
        "output": f"s3a://{BUCKET}/out",
    }
    if qc:
        request["bed"] = f"s3a://{BUCKET}/genes.bed"
    if quantifier != "genome":  # an addition to the contract: only sent when chosen
        request["quantifier"] = quantifier
    return request


def _wait_for_health(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"genejobs serve exited early with code {proc.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("genejobs serve did not answer within 60 s")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="genejobs demo", description=__doc__)
    parser.add_argument("--workdir", default="demo-data", help="folder for everything")
    parser.add_argument("--pairs", type=int, default=20_000, help="read pairs per sample")
    parser.add_argument("--genes", type=int, default=300)
    parser.add_argument("--samples-per-group", type=int, default=2)
    parser.add_argument(
        "--no-qc", dest="qc", action="store_false", help="skip the QC (BAM, RSeQC, MultiQC)"
    )
    parser.add_argument(
        "--quantifier",
        choices=["genome", "transcripts"],
        default="genome",
        help="genome: align + count (default); transcripts: salmon against the transcriptome",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave the service and its S3 server running afterwards, to explore the console",
    )
    return parser.parse_args(argv)


def _stage(settings: Settings, storage: Storage, manifest: Any) -> None:
    """The simulated reads and BED into the bucket; the genome registered as a reference."""
    for sample, (r1, r2) in manifest.reads.items():
        storage.put_file(Path(r1), parse_uri(f"s3a://{BUCKET}/{sample}_R1.fastq.gz"))
        storage.put_file(Path(r2), parse_uri(f"s3a://{BUCKET}/{sample}_R2.fastq.gz"))
    storage.put_file(Path(manifest.bed), parse_uri(f"s3a://{BUCKET}/genes.bed"))

    console.print(f"[bold]3/5[/] registering the simulated genome as reference '{REF_NAME}'")
    registry_for(settings).add(
        REF_NAME,
        Path(manifest.genome),
        [(GTF_NAME, Path(manifest.gtf))],
        beds=(f"s3a://{BUCKET}/genes.bed",),
    )


def _print_results(
    client: GeneJobsClient, storage: Storage, row: dict[str, Any], workdir: Path, started: float
) -> None:
    """Where the finished job's results are, in the bucket and copied here."""
    job_id = row["job_id"]
    table_uri = json.loads(row["request"])["output"]
    local = _download(storage, table_uri, job_id, workdir / "results")
    folder = table_uri[:-4]
    have = {o["path"] for o in client.outputs("default", job_id)}
    console.print(f"\nresults table: {table_uri}", soft_wrap=True)
    console.print(f"artifacts:     {folder}/", soft_wrap=True)
    if "report.html" in have:
        console.print(f"report:        {local / job_id / 'report.html'}", soft_wrap=True)
    if "qc/multiqc_report.html" in have:
        console.print(
            f"MultiQC:       {local / job_id / 'qc' / 'multiqc_report.html'}",
            soft_wrap=True,
        )
    console.print(f"local copy:    {local}", soft_wrap=True)
    console.print(f"demo took {time.monotonic() - started:.0f} s", soft_wrap=True)


def _say_keep(
    keep: bool, link: str, service_pid: int, s3_pid: int | None, *, url: str, token: str
) -> bool:
    """How to reach the console and the CLI: now (``--keep``: both servers stay up) or
    next time."""
    if keep:
        console.print(f"console:       {link}", soft_wrap=True)
        console.print("for the CLI (`genejobs jobs list`, `genejobs ref list`), run:")
        # on stdout, alone, so `eval "$(genejobs demo --keep)"` works too
        print(export_lines(url, token), flush=True)
        console.print(
            f"the service (pid {service_pid}) and S3 server keep running; stop them with "
            f"kill -- -{service_pid}; kill -- -{s3_pid}",
            soft_wrap=True,
        )
    else:
        console.print(
            "console:       `genejobs demo --keep` leaves the service running to "
            "explore this job in the console",
            soft_wrap=True,
        )
    return keep


def export_lines(url: str, token: str) -> str:
    """The shell lines that point the CLI at a running service."""
    return f"export GENEJOBS_URL={shlex.quote(url)}\nexport GENEJOBS_TOKEN={shlex.quote(token)}"


def _simulate(args: argparse.Namespace, workdir: Path) -> Any:
    """Step 1: the dataset, with its truth, in ``workdir/sim``."""
    console.print(
        f"[bold]1/5[/] simulating {args.samples_per_group * 2} samples "
        f"x {args.pairs:,} read pairs in {workdir / 'sim'}"
    )
    return simulate(
        workdir / "sim",
        SimConfig(
            n_genes=args.genes,
            pairs_per_sample=args.pairs,
            samples_per_group=args.samples_per_group,
            groups=("K", "W"),
        ),
    )


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)

    started = time.monotonic()
    workdir = Path(args.workdir).resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    home = workdir / "home"
    home.mkdir(parents=True)

    manifest = _simulate(args, workdir)

    console.print("[bold]2/5[/] starting a local S3 server (SeaweedFS)")
    s3 = LocalS3Server(workdir / "s3").start()
    keep = False
    try:
        s3.create_bucket(BUCKET)
        env = dict(os.environ)
        env.update(
            GENEJOBS_HOME=str(home),
            GENEJOBS_S3_ENDPOINT_URL=s3.endpoint_url,
            AWS_ACCESS_KEY_ID=s3.access_key,
            AWS_SECRET_ACCESS_KEY=s3.secret_key,
            GENEJOBS_ALLOWED_ROOTS=str(workdir),
        )
        settings = Settings.from_env(env)
        storage = Storage.from_settings(settings)
        _stage(settings, storage, manifest)

        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        console.print(f"[bold]4/5[/] starting genejobs serve on {url}")
        log = open(workdir / "serve.log", "wb")  # closed below, once the server is stopped
        proc = subprocess.Popen(
            [sys.executable, "-m", "genejobs.cli", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_for_health(url, proc)
            token = (home / "token").read_text().strip()
            client = GeneJobsClient(url, token)
            request = build_request(manifest, qc=args.qc, quantifier=args.quantifier)
            (workdir / "request.json").write_text(json.dumps(request, indent=2))
            console.print(
                "[bold]5/5[/] submitting request.json through POST /v2.0/default/gene/jobs"
            )
            job_id = client.submit("default", request)
            row = follow(client, "default", job_id, console=console, poll_s=0.5)
            # the whole row is one `genejobs jobs show ID --json` away: say what matters
            console.print(
                f"\njob {job_id} {row['status']} in {fmt_duration(row.get('duration'))}: "
                f"{len(row.get('samples') or [])} samples, {row.get('progress')} steps "
                f"(the request is in {workdir / 'request.json'})",
                soft_wrap=True,
            )
            if row["status"] != "FINISHED":
                console.print(f"[red]job {row['status']}: {row['message']}[/]")
                return 1
            _print_results(client, storage, row, workdir, started)
            link = f"{url}/console#token={token}&project=default"
            keep = _say_keep(args.keep, link, proc.pid, s3.pid, url=url, token=token)
            return 0
        except ClientError as exc:
            console.print(f"[red]error {exc.error_code}: {exc.error_msg}[/]")
            return 1
        finally:
            if not keep:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
            log.close()
    finally:
        if not keep:
            s3.stop()


def _download(storage: Storage, table_uri: str, job_id: str, dest: Path) -> Path:
    """Copy the table and the artifacts folder out of the demo's S3 server."""
    table = parse_uri(table_uri)
    fs = storage.filesystem(table)
    dest.mkdir(parents=True, exist_ok=True)
    fs.get(table.fs_path, str(dest / table.name))
    folder = table.with_suffix_name(job_id)
    if fs.exists(folder.fs_path):
        fs.get(folder.fs_path, str(dest / job_id), recursive=True)
    return dest


if __name__ == "__main__":
    raise SystemExit(main())
