"""Jobs from a counts table through the HTTP API, run by the real runner and statistics task.

The counts are tests/data/deseq2_batch (made by bench/bench_de_design.py); a job with
``batch`` as a covariate must give R DESeq2's own ``~ batch + group`` answers, which the
same folder holds. Bad tables and confounded designs answer 400 at submit.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from genejobs.api.app import create_app
from genejobs.jobs.run.runner import Runner
from genejobs.jobs.service import JobService
from genejobs.storage import Storage
from support.runner import local_cluster, make_settings

pytestmark = pytest.mark.integration

GOLDEN = Path(__file__).parent.parent / "data" / "deseq2_batch"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("counts-jobs")
    settings = make_settings(tmp)
    data = tmp / "data"
    data.mkdir()
    counts = pd.read_csv(GOLDEN / "counts.csv", index_col=0)
    # As nf-core/rnaseq writes it: gene_id, gene_name, then the samples (tab-separated).
    table = counts.copy()
    table.insert(0, "gene_name", [f"N{g[1:]}" for g in counts.index])
    table.rename_axis("gene_id").to_csv(data / "salmon.merged.gene_counts.tsv", sep="\t")
    shutil.copy(GOLDEN / "counts.csv", data / "plain.csv")
    service = JobService(settings, storage=Storage.from_settings(settings), references=lambda: {})
    client = TestClient(create_app(settings, service=service), raise_server_exceptions=False)
    token = service.create_token(user="ana", projects=["lab"], admin=True)
    cluster, dask = local_cluster()
    runner = Runner(settings, runner_id="counts-runner", client=dask)
    yield client, token, data, settings, runner
    dask.close()
    cluster.close()
    service.close()


def _body(data: Path, table: str, batches: dict[str, str] | None, **extra) -> dict:
    coldata = pd.read_csv(GOLDEN / "coldata.csv", index_col=0)
    groups: dict[str, list[dict]] = {}
    for sample, row in coldata.iterrows():
        entry: dict = {"sample_name": sample}
        if batches is not None:
            entry["covariates"] = {"batch": batches[sample]}
        groups.setdefault(row["group"], []).append(entry)
    return {
        "job_type": "RNA_DIFF_EXPR",
        "inputs": [{"group_name": g, "group_inputs": s} for g, s in groups.items()],
        "counts": str(data / table),
        "output": str(data / "out"),
        **extra,
    }


def _submit(world, body: dict):
    client, token, *_ = world
    return client.post("/v2.0/lab/gene/jobs", json=body, headers={"X-Auth-Token": token})


def _run(world, job_id: str) -> tuple[pd.DataFrame, dict]:
    client, token, _, _, runner = world
    assert runner.run_once() == job_id
    job = client.get(f"/v2.0/lab/gene/jobs/{job_id}", headers={"X-Auth-Token": token}).json()
    assert job["status"] == "FINISHED", job
    outputs = job["outputs"]
    table = pd.read_csv(outputs["table"]).set_index("gene_id")
    run = json.loads(Path(outputs["run.json"]).read_text())
    return table, run


@pytest.fixture(scope="module")
def batch_job(world) -> tuple[pd.DataFrame, dict]:
    """The nf-core-style table with batch as a covariate, run once for the module."""
    batches = dict(pd.read_csv(GOLDEN / "coldata.csv", index_col=0)["batch"])
    answer = _submit(world, _body(world[2], "salmon.merged.gene_counts.tsv", batches))
    assert answer.status_code == 201, answer.text
    return _run(world, answer.json()["job_id"])


def test_a_counts_job_with_a_batch_covariate_gives_r_deseq2s_results(batch_job) -> None:
    table, run = batch_job
    r = pd.read_csv(GOLDEN / "r_results.csv", index_col="gene_id").reindex(table.index)
    gap = (table["log2FoldChange"] - r["log2FoldChange"]).abs().dropna()
    assert len(gap) >= 290 and (gap <= 0.01).mean() >= 0.99
    called, expected = set(table.index[table["padj"] < 0.05]), set(r.index[r["padj"] < 0.05])
    assert len(expected) > 10 and len(called ^ expected) <= 2
    assert table.loc["G00010", "gene_name"] == "N00010"  # names from the table
    assert run["design"] == "~ batch + group"
    assert run["samples"]["K4"]["covariates"] == {"batch": "b2"}
    assert run["lfc_threshold"] == 0.0 and run["counts_table"].endswith("counts.tsv")
    assert "lfc_shrunk" not in table.columns and "lfc_threshold" not in table.columns
    # Provenance: no reads were processed, so no strand rule, quantifier or adapter.
    assert run["reads_processed"] is False
    assert run["library_type"] is None and run["quantifier"] is None and run["adapter"] is None
    assert run["counts_table_format"] == "nf-core/rnaseq salmon (gene_id, gene_name), TSV"
    assert run["counts_source"].startswith("a counts table: ")
    assert (run["test"], run["reduced"]) == ("Wald", None)


def test_shrink_and_threshold_change_what_they_should(world, batch_job) -> None:
    plain, _ = batch_job
    batches = dict(pd.read_csv(GOLDEN / "coldata.csv", index_col=0)["batch"])
    body = _body(world[2], "plain.csv", batches, shrink=True, lfc_threshold=1.0)
    table, run = _run(world, _submit(world, body).json()["job_id"])
    assert run["shrink"] is True and run["lfc_threshold"] == 1.0
    assert run["alt_hypothesis"] == "greaterAbs"
    assert (table["lfc_threshold"] == 1.0).all()
    # The fold changes stay the MLE; lfc_shrunk sits beside them, pulled towards zero.
    cols = list(table.columns)
    assert cols[cols.index("log2FoldChange") + 1] == "lfc_shrunk"
    # gene by gene (each table is sorted by its own padj)
    pd.testing.assert_series_equal(
        table["log2FoldChange"], plain["log2FoldChange"].reindex(table.index), rtol=1e-5
    )
    assert table["lfc_shrunk"].abs().sum() < table["log2FoldChange"].abs().sum()
    # The threshold test calls R's genes for lfcThreshold = 1, fewer than against zero.
    r = pd.read_csv(GOLDEN / "r_results.csv", index_col="gene_id")
    called = set(table.index[table["padj"] < 0.05])
    assert called < set(plain.index[plain["padj"] < 0.05])
    assert len(called ^ set(r.index[r["thr1_padj"] < 0.05])) <= 2


def test_a_likelihood_ratio_test_job_gives_one_table_and_says_so(world, batch_job) -> None:
    """``test: LRT`` through the API: ~ batch + group against ~ batch. With two groups the
    LRT tests what the Wald test does, so the p-values rank alike and the fold changes
    (of the last coefficient, group W vs K) are the Wald table's."""
    plain, _ = batch_job
    batches = dict(pd.read_csv(GOLDEN / "coldata.csv", index_col=0)["batch"])
    body = _body(world[2], "plain.csv", batches, test="LRT", reduced=["batch"])
    answer = _submit(world, body)
    assert answer.status_code == 201, answer.text
    table, run = _run(world, answer.json()["job_id"])
    assert (run["test"], run["reduced"], run["coefficient"]) == ("LRT", "~ batch", "group[T.W]")
    assert "comparison" not in table.columns
    plain = plain.reindex(table.index)  # gene by gene (each table is sorted by its own padj)
    pd.testing.assert_series_equal(table["log2FoldChange"], plain["log2FoldChange"], rtol=1e-6)
    both = table["pvalue"].notna() & plain["pvalue"].notna()
    assert table.loc[both, "pvalue"].corr(plain.loc[both, "pvalue"], method="spearman") > 0.99


def test_a_dry_run_of_a_counts_job_checks_the_table_and_counts_its_bytes(world) -> None:
    client, token, data, *_ = world
    body = _body(data, "plain.csv", None)
    answer = client.post(
        "/v2.0/lab/gene/jobs?dry_run=true", json=body, headers={"X-Auth-Token": token}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["input_bytes"] == (data / "plain.csv").stat().st_size
    assert not any(s["cached"] for s in answer.json()["samples"])


def test_a_confounded_covariate_and_bad_tables_answer_400_naming_them(world) -> None:
    data = world[2]
    coldata = pd.read_csv(GOLDEN / "coldata.csv", index_col=0)
    confounded = {s: "b1" if g == "K" else "b2" for s, g in coldata["group"].items()}
    answer = _submit(world, _body(data, "plain.csv", confounded))
    assert answer.status_code == 400
    assert answer.json()["error_code"] == "DLI.0001"
    assert "covariates.batch: batch is confounded with group" in answer.json()["error_msg"]

    bad = pd.read_csv(GOLDEN / "counts.csv", index_col=0).drop(columns="W3")
    bad.iloc[5, 0] = -3
    bad.to_csv(data / "bad.csv")
    msg = _submit(world, _body(data, "bad.csv", None)).json()["error_msg"]
    assert "inputs[1].group_inputs[2].sample_name: 'W3' is not a column of counts" in msg
    assert "column 'K1', gene 'G00005': -3 is negative" in msg
    (data / "empty.tsv").write_text("")
    answer = _submit(world, _body(data, "empty.tsv", None))
    assert answer.status_code == 400 and "the table is empty" in answer.json()["error_msg"]


def test_on_simulated_batches_the_batch_aware_job_finds_more_changed_genes(world) -> None:
    from genejobs.sim import SimConfig, simulate

    data = world[2]
    manifest = simulate(
        data / "sim",
        SimConfig(
            n_genes=400,
            samples_per_group=4,
            pairs_per_sample=400_000,
            fraction_de=0.15,
            batches=2,
            batch_effect_sd=2.0,
            write_reads=False,
            seed=18,
        ),
    )
    truth = pd.read_csv(manifest.truth_genes).set_index("gene_id")
    changed = set(truth.index[truth["is_de"]])

    def job(with_batch: bool) -> set[str]:
        inputs = [
            {
                "group_name": group,
                "group_inputs": [
                    {"sample_name": s}
                    | ({"covariates": {"batch": manifest.batches[s]}} if with_batch else {})
                    for s in samples
                ],
            }
            for group, samples in manifest.groups.items()
        ]
        body = {
            "job_type": "RNA_DIFF_EXPR",
            "inputs": inputs,
            "counts": manifest.truth_counts,
            "output": str(data / "sim-out"),
        }
        answer = _submit(world, body)
        assert answer.status_code == 201, answer.text
        table, run = _run(world, answer.json()["job_id"])
        assert run["design"] == ("~ batch + group" if with_batch else "~ group")
        return set(table.index[table["padj"] < 0.05])

    aware, plain = job(True), job(False)
    found_aware, found_plain = len(aware & changed), len(plain & changed)
    assert found_aware > 1.2 * found_plain, (found_aware, found_plain, len(changed))
    # ... without paying for it in false calls.
    assert len(aware - changed) <= max(3, 0.1 * len(aware))


def test_a_real_job_owns_what_it_wrote_and_neutralises_formulas(world) -> None:
    """The runner's manifest lists every file the job wrote (and only those); the outputs
    route and purge go by it; gene ids that a spreadsheet would run come out quoted."""
    client, token, data, _, runner = world
    headers = {"X-Auth-Token": token}
    counts = pd.read_csv(GOLDEN / "counts.csv", index_col=0)
    evil = {
        counts.index[0]: '=HYPERLINK("http://x")',
        counts.index[1]: "+1+2",
        counts.index[2]: "@SUM(A1)",
    }
    counts.rename(index=evil).rename_axis("gene_id").to_csv(data / "evil.csv")
    body = _body(data, "evil.csv", None, output=str(data / "owned"))
    answer = _submit(world, body)
    assert answer.status_code == 201, answer.text
    job_id = answer.json()["job_id"]
    assert runner.run_once() == job_id
    base = f"/v2.0/lab/gene/jobs/{job_id}"
    job = client.get(base, headers=headers).json()
    assert job["status"] == "FINISHED", job
    written = sorted(p for p in (data / "owned").rglob("*") if p.is_file())
    listed = client.get(f"{base}/outputs", headers=headers).json()["outputs"]
    assert listed[0]["path"] == f"{job_id}.csv"
    folder = data / "owned" / job_id
    on_disk = {
        (
            p.relative_to(folder).as_posix() if p.parent != data / "owned" else p.name
        ): p.stat().st_size
        for p in written
    }
    assert {o["path"]: o["size"] for o in listed} == on_disk
    assert {"report.html", "manifest.json", "counts.csv", "methods.md"} <= set(on_disk)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {f["uri"] for f in manifest["files"]} >= {str(folder / "report.html")}
    # CSV injection: the cells start with a single quote, in the results and the counts
    table = (data / "owned" / f"{job_id}.csv").read_text()
    assert "'=HYPERLINK" in table and "\n'+1+2," in table and "\n'@SUM(A1)," in table
    assert "\n\"'=HYPERLINK" in (folder / "counts.csv").read_text()
    assert "CSV injection" in (folder / "methods.md").read_text()
    # a file planted beside the job's is neither listed nor purged; folders stay
    (folder / "planted.txt").write_text("x")
    assert client.delete(f"{base}?purge=true", headers=headers).status_code == 200
    left = [p for p in (data / "owned").rglob("*") if p.is_file()]
    assert left == [folder / "planted.txt"]
