"""``genejobs demo``: one complete job on the embedded default, as a new user would run it.

It simulates a small dataset, starts a local S3 server (SeaweedFS) and the
service (``genejobs serve``: SQLite, local Dask cluster), registers the
simulated genome, submits a request shaped like the contract's example through
HTTP, follows it on the list call with a progress bar, and prints the finished
row and where the results are (also copied to a local folder to open).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console

from genejobs.client import ClientError, GeneJobsClient, follow_job
from genejobs.config import Settings
from genejobs.references.registry import registry_for
from genejobs.sim.simulate import SimConfig, simulate
from genejobs.storage import Storage, parse_uri
from genejobs.storage.seaweed import LocalS3Server

BUCKET = "diff-expr"
REF_NAME = "sim1"
GTF_NAME = "sim1.annotation.gtf"
console = Console(stderr=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_request(manifest: Any, *, qc: bool) -> dict[str, Any]:
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
    return parser.parse_args(argv)


def _upload(storage: Storage, manifest: Any) -> None:
    """The simulated reads and the genes BED into the demo's bucket."""
    for sample, (r1, r2) in manifest.reads.items():
        storage.put_file(Path(r1), parse_uri(f"s3a://{BUCKET}/{sample}_R1.fastq.gz"))
        storage.put_file(Path(r2), parse_uri(f"s3a://{BUCKET}/{sample}_R2.fastq.gz"))
    storage.put_file(Path(manifest.bed), parse_uri(f"s3a://{BUCKET}/genes.bed"))


@contextlib.contextmanager
def _service(workdir: Path, env: dict[str, str], port: int) -> Iterator[None]:
    """``genejobs serve`` in its own process group, answering on ``port`` until the end."""
    url = f"http://127.0.0.1:{port}"
    log = open(workdir / "serve.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [sys.executable, "-m", "genejobs.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_for_health(url, proc)
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _run_job(
    client: GeneJobsClient, request: dict[str, Any], storage: Storage, workdir: Path
) -> int:
    """Submit, follow, print the row; fetch the results when the job finished."""
    (workdir / "request.json").write_text(json.dumps(request, indent=2))
    console.print("[bold]5/5[/] submitting request.json through POST /v2.0/default/gene/jobs")
    job_id = client.submit("default", request)
    row = follow_job(
        lambda: _listed(client, job_id), job_id=job_id, console=console, interval_s=0.5
    )
    print(json.dumps(row, indent=2))
    if row["status"] != "FINISHED":
        console.print(f"[red]job {row['status']}: {row['message']}[/]")
        return 1
    table_uri = json.loads(row["request"])["output"]
    local = _download(storage, table_uri, job_id, workdir / "results")
    console.print(f"\nresults table: {table_uri}")
    console.print(f"artifacts:     {table_uri[:-4]}/")
    console.print(f"local copy:    {local}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    started = time.monotonic()
    workdir = Path(args.workdir).resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    home = workdir / "home"
    home.mkdir(parents=True)

    console.print(
        f"[bold]1/5[/] simulating {args.samples_per_group * 2} samples "
        f"x {args.pairs:,} read pairs in {workdir / 'sim'}"
    )
    manifest = simulate(
        workdir / "sim",
        SimConfig(
            n_genes=args.genes,
            pairs_per_sample=args.pairs,
            samples_per_group=args.samples_per_group,
            groups=("K", "W"),
        ),
    )

    console.print("[bold]2/5[/] starting a local S3 server (SeaweedFS)")
    with LocalS3Server(workdir / "s3") as s3:
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
        _upload(storage, manifest)

        console.print(f"[bold]3/5[/] registering the simulated genome as reference '{REF_NAME}'")
        registry_for(settings).add(
            REF_NAME, Path(manifest.genome), [(GTF_NAME, Path(manifest.gtf))]
        )

        port = _free_port()
        console.print(f"[bold]4/5[/] starting genejobs serve on http://127.0.0.1:{port}")
        try:
            with _service(workdir, env, port):
                client = GeneJobsClient(
                    f"http://127.0.0.1:{port}", (home / "token").read_text().strip()
                )
                code = _run_job(client, build_request(manifest, qc=args.qc), storage, workdir)
        except ClientError as exc:
            console.print(f"[red]error {exc.error_code}: {exc.error_msg}[/]")
            return 1
    if code == 0:
        console.print(f"demo took {time.monotonic() - started:.0f} s")
    return code


def _listed(client: GeneJobsClient, job_id: str) -> dict[str, Any]:
    """The job's row in the list call (the demo follows it there, as the original console did)."""
    rows = client.list("default", limit=100)["jobs"]
    return dict(next(r for r in rows if r["job_id"] == job_id))


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
