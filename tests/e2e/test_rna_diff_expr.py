"""The HTTP API driven as a client would, on simulated data, checked against the truth.

Real processes: SeaweedFS (S3), ``genejobs serve`` (SQLite + local Dask cluster).
The request has the contract's shape with ``s3a://`` paths; the same job with
local paths must give the same table, and reuse the cached samples.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from service import CLI, serve

from genejobs.pipeline.de import run_differential_expression
from genejobs.sim import SimConfig, simulate
from genejobs.storage.seaweed import LocalS3Server

pytestmark = pytest.mark.e2e
BUCKET = "diff-expr"
PAIRS = 100_000


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("e2e")
    manifest = simulate(
        root / "sim",
        SimConfig(n_genes=300, pairs_per_sample=PAIRS, samples_per_group=3, seed=7),
    )
    with LocalS3Server(root / "s3") as s3:
        s3.create_bucket(BUCKET)
        fs = s3.filesystem()
        for sample, (r1, r2) in manifest.reads.items():
            fs.put_file(r1, f"{BUCKET}/reads/{sample}_R1.fastq.gz")
            fs.put_file(r2, f"{BUCKET}/reads/{sample}_R2.fastq.gz")
        env = dict(os.environ)
        env.update(
            GENEJOBS_HOME=str(root / "home"),
            GENEJOBS_S3_ENDPOINT_URL=s3.endpoint_url,
            AWS_ACCESS_KEY_ID=s3.access_key,
            AWS_SECRET_ACCESS_KEY=s3.secret_key,
            GENEJOBS_ALLOWED_ROOTS=str(root),
            GENEJOBS_LOG_LEVEL="INFO",
        )
        subprocess.run(
            [*CLI, "ref", "add", "hg19", "--fasta", manifest.genome, "--gtf", manifest.gtf],
            env=env,
            check=True,
            capture_output=True,
        )
        with serve(root, env, start_timeout_s=60) as served:
            url = served.url
            http = httpx.Client(base_url=url, headers={"X-Auth-Token": served.token}, timeout=30)
            yield {"root": root, "manifest": manifest, "http": http, "fs": fs, "url": url}


def _request(manifest, *, s3: bool, root: Path, output: str) -> dict:
    def path(sample: str, mate: int) -> str:
        if s3:
            return f"s3a://{BUCKET}/reads/{sample}_R{mate}.fastq.gz"
        return "file://" + manifest.reads[sample][mate - 1]

    return {
        "job_type": "RNA_DIFF_EXPR",
        "inputs": [
            {
                "group_name": group,
                "group_inputs": [
                    {"sample_name": s, "files": [path(s, 1), path(s, 2)]} for s in samples
                ],
            }
            for group, samples in manifest.groups.items()
        ],
        "adapt": manifest.adapter,
        "ref": "hg19",
        "gtf": "annotation.gtf",
        "is_export_qc": False,
        "library_type": manifest.library_type,
        "output": output,
    }


def _wait(http: httpx.Client, job_id: str, timeout_s: float = 400) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        detail = http.get(f"/v2.0/default/gene/jobs/{job_id}").json()
        if detail["status"] in ("FINISHED", "FAILED", "CANCELLED"):
            return detail
        time.sleep(1)
    raise AssertionError(f"job {job_id} did not end in {timeout_s} s")


@pytest.fixture(scope="module")
def s3_job(world):
    request = _request(world["manifest"], s3=True, root=world["root"], output=f"s3a://{BUCKET}/out")
    answer = world["http"].post("/v2.0/default/gene/jobs", json=request)
    assert answer.status_code == 201, answer.text
    job_id = answer.json()["job_id"]
    return job_id, _wait(world["http"], job_id)


def test_contract_example_runs_to_finished_with_the_contract_row(world, s3_job):
    job_id, detail = s3_job
    assert detail["status"] == "FINISHED", detail["message"]
    listing = world["http"].get("/v2.0/default/gene/jobs", params={"limit": 100}).json()
    row = next(r for r in listing["jobs"] if r["job_id"] == job_id)
    # the contract's fields, plus the optional job name (an addition; null when not given)
    assert set(row) == {
        "job_id",
        "owner",
        "status",
        "progress",
        "start_time",
        "duration",
        "message",
        "request",
        "name",
    }
    assert row["name"] is None
    n_samples = sum(len(s) for s in world["manifest"].groups.values())
    assert row["progress"] == f"{n_samples + 1}/{n_samples + 1}"
    assert row["owner"] == "admin" and row["message"] == ""
    assert isinstance(row["start_time"], int) and row["duration"] > 0
    stored = json.loads(row["request"])
    assert stored["output"] == f"s3a://{BUCKET}/out/{job_id}.csv"
    assert all(s["state"] == "DONE" for s in detail["samples"])


def _table(world, uri: str) -> pd.DataFrame:
    key = uri.split("://", 1)[1]
    return pd.read_csv(io.BytesIO(world["fs"].cat_file(key)))


def test_results_agree_with_the_simulated_truth(world, s3_job):
    job_id, detail = s3_job
    manifest = world["manifest"]
    table = _table(world, f"s3a://{BUCKET}/out/{job_id}.csv")
    assert list(table.columns) == [
        "gene_id",
        "gene_name",
        "baseMean",
        "log2FoldChange",
        "lfcSE",
        "stat",
        "pvalue",
        "padj",
    ]
    counts = pd.read_csv(
        io.BytesIO(world["fs"].cat_file(f"{BUCKET}/out/{job_id}/counts.csv")), index_col=0
    )
    truth = pd.read_csv(manifest.truth_counts, index_col=0)
    genes = pd.read_csv(manifest.truth_genes, index_col=0)
    for sample in truth.columns:
        rho = spearmanr(counts[sample], truth.loc[counts.index, sample]).statistic
        assert rho >= 0.98, (sample, rho)
    with_paralog = genes.index[genes["paralog_of"].notna()].tolist()
    with_paralog += genes.loc[genes["paralog_of"].notna(), "paralog_of"].tolist()
    share = counts.loc[with_paralog].to_numpy().sum() / truth.loc[with_paralog].to_numpy().sum()
    assert share >= 0.95, share

    # The ceiling: the same statistics on the true counts.
    groups = {s: g for g, ss in manifest.groups.items() for s in ss}
    ceiling = run_differential_expression(truth, groups, genes["gene_name"].to_dict(), []).table
    true_de = set(genes.index[genes["is_de"]])

    def precision_recall(t: pd.DataFrame) -> tuple[float, float]:
        called = set(t.loc[t["padj"] < 0.05, "gene_id"])
        return len(called & true_de) / max(1, len(called)), len(called & true_de) / len(true_de)

    p_ours, r_ours = precision_recall(table)
    p_max, r_max = precision_recall(ceiling)
    assert p_ours >= p_max - 0.03 and r_ours >= r_max - 0.03, (p_ours, r_ours, p_max, r_max)

    lfc_col = [c for c in genes.columns if c.startswith("true_log2fc_")][0]
    merged = table.set_index("gene_id").join(genes[[lfc_col, "is_de"]])
    changed = merged[merged["is_de"] & (merged["baseMean"] > 10)].dropna(subset=["log2FoldChange"])
    rho = spearmanr(changed["log2FoldChange"], changed[lfc_col]).statistic
    assert rho >= 0.95, rho


def test_artifacts_are_written_beside_the_table(world, s3_job):
    job_id, detail = s3_job
    folder = f"{BUCKET}/out/{job_id}"
    names = {p.rsplit("/", 1)[1] for p in world["fs"].ls(folder)}
    for expected in (
        "counts.csv",
        "normalized_counts.csv",
        "size_factors.csv",
        "assignment.csv",
        "run.json",
        "report.html",
    ):
        assert expected in names
    run = json.loads(world["fs"].cat_file(f"{folder}/run.json"))
    assert run["versions"]["mappy"] and run["annotation"]["gtf_sha256"]
    assert detail["outputs"]["table"] == f"s3a://{BUCKET}/out/{job_id}.csv"
    assignment = pd.read_csv(io.BytesIO(world["fs"].cat_file(f"{folder}/assignment.csv")))
    genes = pd.read_csv(world["manifest"].truth_genes, index_col=0)
    truth = pd.read_csv(world["manifest"].truth_counts, index_col=0)
    rrna = genes.index[genes["gene_type"] == "rRNA"]
    for _, row in assignment.iterrows():
        true_share = truth.loc[rrna, row["sample"]].sum() / truth[row["sample"]].sum()
        assert abs(row["rrna_share"] - true_share) < 0.01, (row["sample"], true_share)


def test_the_same_job_on_local_paths_gives_the_same_table_from_the_cache(world, s3_job):
    job_id, _ = s3_job
    out = world["root"] / "local-out" / "result.csv"
    request = _request(world["manifest"], s3=False, root=world["root"], output=f"file://{out}")
    answer = world["http"].post("/v2.0/default/gene/jobs", json=request)
    assert answer.status_code == 201, answer.text
    detail = _wait(world["http"], answer.json()["job_id"])
    assert detail["status"] == "FINISHED", detail["message"]
    # S3 and local copies of a file have different identities, so this run aligned
    # again; the table must still be the same.
    ours = pd.read_csv(out)
    s3_table = _table(world, f"s3a://{BUCKET}/out/{job_id}.csv")
    pd.testing.assert_frame_equal(ours, s3_table)


def test_a_resubmission_reuses_cached_samples(world, s3_job):
    request = _request(
        world["manifest"], s3=True, root=world["root"], output=f"s3a://{BUCKET}/again"
    )
    request["library_type"] = "fr-firststrand"
    answer = world["http"].post("/v2.0/default/gene/jobs", json=request)
    detail = _wait(world["http"], answer.json()["job_id"])
    assert detail["status"] == "FINISHED", detail["message"]
    assert all(s["from_cache"] for s in detail["samples"])


def test_a_wrong_library_type_fails_with_a_message_naming_the_right_one(world, s3_job):
    request = _request(
        world["manifest"], s3=True, root=world["root"], output=f"s3a://{BUCKET}/wrong"
    )
    request["library_type"] = "fr-secondstrand"  # the reads are fr-firststrand
    answer = world["http"].post("/v2.0/default/gene/jobs", json=request)
    detail = _wait(world["http"], answer.json()["job_id"])
    assert detail["status"] == "FAILED"
    assert "fr-firststrand" in detail["message"] and "Traceback" not in detail["message"]
    assert not world["fs"].exists(f"{BUCKET}/wrong/{answer.json()['job_id']}.csv")


def test_a_truncated_input_fails_naming_sample_and_file(world):
    manifest = world["manifest"]
    sample = next(iter(manifest.reads))
    data = Path(manifest.reads[sample][1]).read_bytes()
    world["fs"].pipe(f"{BUCKET}/broken/{sample}_R2.fastq.gz", data[: len(data) // 2])
    request = _request(manifest, s3=True, root=world["root"], output=f"s3a://{BUCKET}/broken-out")
    request["inputs"][0]["group_inputs"][0]["files"][1] = (
        f"s3a://{BUCKET}/broken/{sample}_R2.fastq.gz"
    )
    answer = world["http"].post("/v2.0/default/gene/jobs", json=request)
    assert answer.status_code == 201, answer.text
    detail = _wait(world["http"], answer.json()["job_id"])
    assert detail["status"] == "FAILED"
    assert sample in detail["message"] and "broken" in detail["message"], detail["message"]
    assert "Traceback" not in detail["message"]


def test_counts_keep_a_stable_order_and_integer_values(world, s3_job):
    job_id, _ = s3_job
    counts = pd.read_csv(
        io.BytesIO(world["fs"].cat_file(f"{BUCKET}/out/{job_id}/counts.csv")), index_col=0
    )
    genes = pd.read_csv(world["manifest"].truth_genes, index_col=0)
    assert list(counts.index) == list(genes.index)
    assert np.issubdtype(counts.to_numpy().dtype, np.integer)


def test_gene_sets_give_enrichment_tables_and_a_report_figure(world, s3_job):
    manifest = world["manifest"]
    genes = pd.read_csv(manifest.truth_genes)
    lfc = genes.filter(like="true_log2fc_").iloc[:, 0]
    rng = np.random.default_rng(0)
    lines = [
        "TRUE_UP\tsimulated\t" + "\t".join(genes.loc[lfc > 0, "gene_name"]),
        "TRUE_DOWN\tsimulated\t" + "\t".join(genes.loc[lfc < 0, "gene_name"]),
    ] + [
        f"RANDOM_{i}\tsimulated\t" + "\t".join(rng.choice(genes["gene_name"], 25, replace=False))
        for i in range(6)
    ]
    world["fs"].pipe(f"{BUCKET}/sets/truth.gmt", ("\n".join(lines) + "\n").encode())
    request = _request(manifest, s3=True, root=world["root"], output=f"s3a://{BUCKET}/enrich")
    request["gene_sets"] = f"s3a://{BUCKET}/sets/truth.gmt"
    answer = world["http"].post("/v2.0/default/gene/jobs", json=request)
    assert answer.status_code == 201, answer.text
    job_id = answer.json()["job_id"]
    detail = _wait(world["http"], job_id)
    assert detail["status"] == "FINISHED", detail["message"]
    folder = f"{BUCKET}/enrich/{job_id}"
    gsea = pd.read_csv(
        io.BytesIO(world["fs"].cat_file(f"{folder}/enrichment/W_vs_K_gsea_prerank.csv"))
    )
    by_term = gsea.set_index("Term")
    assert by_term.loc["TRUE_UP", "NES"] > 0 and by_term.loc["TRUE_UP", "FDR q-val"] < 0.05
    assert by_term.loc["TRUE_DOWN", "NES"] < 0 and by_term.loc["TRUE_DOWN", "FDR q-val"] < 0.05
    ora = pd.read_csv(io.BytesIO(world["fs"].cat_file(f"{folder}/enrichment/W_vs_K_ora_up.csv")))
    assert ora.iloc[0]["Term"] == "TRUE_UP" and ora.iloc[0]["Adjusted P-value"] < 0.05
    page = world["fs"].cat_file(f"{folder}/report.html").decode()
    assert 'id="fig-enrichment-W_vs_K"' in page


def test_a_fetched_reference_gives_go_and_reactome_enrichment_by_default(world, tmp_path):
    """`ref fetch` from a local mirror of the upstream layout, then a job on it: the
    report shows enrichment from the fetched GO and Reactome sets without a GMT."""
    from genejobs.sim.upstream import serve as serve_upstream
    from genejobs.sim.upstream import write_upstream

    manifest = world["manifest"]
    upstream = tmp_path / "upstream"
    write_upstream(upstream, Path(manifest.genome), Path(manifest.gtf), Path(manifest.truth_genes))
    env = dict(os.environ)
    env.update(
        GENEJOBS_HOME=str(world["root"] / "home"),
        GENEJOBS_REFERENCE_CATALOGUE=str(upstream / "catalogue.yaml"),
    )
    with serve_upstream(upstream) as mirror:
        done = subprocess.run(
            [*CLI, "ref", "fetch", "SIM1", "--mirror", mirror, "--as", "sim-fetched"],
            env=env,
            capture_output=True,
            text=True,
        )
    assert done.returncode == 0, done.stderr
    request = _request(manifest, s3=True, root=world["root"], output=f"s3a://{BUCKET}/fetched")
    request.update(ref="sim-fetched", gtf="gencode.v1.primary_assembly.annotation.gtf.gz")
    answer = world["http"].post("/v2.0/default/gene/jobs", json=request)
    assert answer.status_code == 201, answer.text
    job_id = answer.json()["job_id"]
    detail = _wait(world["http"], job_id)
    assert detail["status"] == "FINISHED", detail["message"]
    folder = f"{BUCKET}/fetched/{job_id}"
    fs = world["fs"]
    go_up = pd.read_csv(io.BytesIO(fs.cat_file(f"{folder}/enrichment/W_vs_K_GO_ora_up.csv")))
    assert go_up.iloc[0]["Term"] == "GO:0090002 simulated up-regulation"
    assert go_up.iloc[0]["Adjusted P-value"] < 0.05
    go_down = pd.read_csv(io.BytesIO(fs.cat_file(f"{folder}/enrichment/W_vs_K_GO_ora_down.csv")))
    assert go_down.iloc[0]["Term"] == "GO:0090003 simulated down-regulation"
    reactome = pd.read_csv(
        io.BytesIO(fs.cat_file(f"{folder}/enrichment/W_vs_K_Reactome_gsea_prerank.csv"))
    ).set_index("Term")
    assert reactome.loc["R-SIM-0001 Simulated pathway up", "NES"] > 0
    page = fs.cat_file(f"{folder}/report.html").decode()
    assert 'id="enrichment"' in page and "GO</b> (2024-06-17)" in page
    assert "SIM1-gencode: gencode release 1" in page and "checksums verified" in page
    methods = fs.cat_file(f"{folder}/methods.md").decode()
    assert "GO (release 2024-06-17), kept with reference sim-fetched" in methods
    assert "propagated to every ancestor term" in methods
    run = json.loads(fs.cat_file(f"{folder}/run.json"))
    prov = run["reference"]["provenance"]
    assert prov["source"] == "gencode" and prov["checksums_verified"] is True
    world["fetched_report"] = f"{folder}/report.html"
