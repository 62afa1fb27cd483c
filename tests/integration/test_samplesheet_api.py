"""Sample sheets and runs through the real API: parse, dry run (with head checks), submit, CLI.

Real SQLite, real local files under an allowed root, the app under uvicorn for the CLI.
The references are a fixed catalogue; no runner (the runner's side of runs is tested
with the pipeline).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from genejobs.api.app import create_app
from genejobs.cli.main import main
from genejobs.config import Settings
from genejobs.jobs.request.schema import MAX_SHEET_BYTES
from genejobs.jobs.service import JobService
from genejobs.storage import Storage
from support.servers import serve_app

REFS = {"hg19": ["g.gtf"]}


def _reads(path: Path, mate: int, n: int = 40, *, cut: bool = False) -> None:
    text = "".join(
        f"@{path.name[:2]}r{i} {mate}:N:0:ACGT\nACGTACGTAC\n+\nIIIIIIIIII\n" for i in range(n)
    )
    data = gzip.compress(text.encode())
    path.write_bytes(data[: len(data) // 2] if cut else data)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("sheets")
    home, data = root / "home", root / "data"
    data.mkdir(parents=True)
    home.mkdir()
    # lane-split Illumina names: WT1 on two lanes, the others on one
    for sample, lanes in (("WT1", 2), ("WT2", 1), ("KO1", 1), ("KO2", 1)):
        for lane in range(1, lanes + 1):
            for mate in (1, 2):
                _reads(data / f"{sample}_S1_L00{lane}_R{mate}_001.fastq.gz", mate)
    _reads(data / "BAD_S9_L001_R1_001.fastq.gz", 1, cut=True)
    _reads(data / "BAD_S9_L001_R2_001.fastq.gz", 2)
    (home / "secret.csv").write_text("sample,fastq_1,group\n")
    settings = Settings.from_env(
        # the root holds the service's home too, as in the demo: a sheet there is refused
        env={"GENEJOBS_HOME": str(home), "GENEJOBS_ALLOWED_ROOTS": f"{data}:{root}"},
        database_url=f"sqlite:///{root / 'jobs.db'}",
    )
    service = JobService(settings, storage=Storage.from_settings(settings), references=lambda: REFS)
    client = TestClient(create_app(settings, service=service), raise_server_exceptions=False)
    token = service.create_token(user="alice", projects=["A"], admin=True)
    yield {"client": client, "data": data, "home": home, "token": token, "root": root}
    service.close()


def sheet_text(data: Path, *, bad: bool = False) -> str:
    rows = ["sample,fastq_1,fastq_2,strandedness,condition"]
    for sample, lanes, group in (
        ("WT1", 2, "WT"),
        ("WT2", 1, "WT"),
        ("KO1", 1, "KO"),
        ("KO2", 1, "KO"),
    ):
        for lane in range(1, lanes + 1):
            r = [data / f"{sample}_S1_L00{lane}_R{m}_001.fastq.gz" for m in (1, 2)]
            rows.append(f"{sample},{r[0]},{r[1]},reverse,{group}")
    if bad:
        r = [data / f"BAD_S9_L001_R{m}_001.fastq.gz" for m in (1, 2)]
        rows.append(f"KO3,{r[0]},{r[1]},reverse,KO")
    return "\n".join(rows) + "\n"


def request(world, **changes) -> dict:
    body = {
        "job_type": "RNA_DIFF_EXPR",
        "samplesheet": {"text": sheet_text(world["data"])},
        "ref": "hg19",
        "gtf": "g.gtf",
        "output": f"{world['data']}/out",
    }
    body.update(changes)
    return body


def post(world, path: str, body, **params):
    headers = {"X-Auth-Token": world["token"]}
    return world["client"].post(f"/v2.0/A/gene{path}", json=body, headers=headers, params=params)


def test_the_sheet_route_answers_samples_and_problems(world):
    r = post(world, "/samplesheet", {"text": sheet_text(world["data"])})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["problems"] == [] and got["library_type"] == "fr-firststrand"
    assert [(s["sample_name"], s["group_name"], s["rows"]) for s in got["samples"]] == [
        ("WT1", "WT", [2, 3]),
        ("WT2", "WT", [4]),
        ("KO1", "KO", [5]),
        ("KO2", "KO", [6]),
    ]
    assert len(got["inputs"][0]["group_inputs"][0]["runs"]) == 2
    broken = sheet_text(world["data"]).replace("WT2,", "2WT,")
    got = post(world, "/samplesheet", {"text": broken}).json()
    assert got["problems"] == [
        "samplesheet row 4, column sample: '2WT' must start with a letter, then letters, digits, "
        "'_' or '-', 1-128 characters"
    ]
    assert [s["sample_name"] for s in got["samples"]] == ["WT1", "KO1", "KO2"]


def test_a_sheet_by_uri_reads_relative_paths_from_its_folder(world):
    text = "sample,fastq_1,fastq_2,group\n" + "".join(
        f"{s},{s}_S1_L001_R1_001.fastq.gz,{s}_S1_L001_R2_001.fastq.gz,{g}\n"
        for s, g in (("WT2", "WT"), ("KO1", "KO"))
    )
    (world["data"] / "sheet.csv").write_text(text)
    got = post(world, "/samplesheet", {"uri": f"file://{world['data']}/sheet.csv"}).json()
    assert got["problems"] == []
    assert got["samples"][0]["runs"] == [
        [f"file://{world['data']}/WT2_S1_L001_R{m}_001.fastq.gz" for m in (1, 2)]
    ]


@pytest.mark.parametrize(
    ("body", "status", "code", "fragment"),
    [
        ({}, 400, "DLI.0001", "samplesheet: give the sheet as text or as uri"),
        ({"uri": "/nowhere/s.csv"}, 400, "DLI.0011", "outside the allowed local roots"),
        ({"uri": "HOME/secret.csv"}, 400, "DLI.0011", "inside the service's own folder"),
        ({"uri": "HOME/token"}, 400, "DLI.0001", "must name a .csv, .tsv or .txt file"),
        ({"uri": "DATA/missing.csv"}, 400, "DLI.0002", "does not exist"),
        ({"uri": "DATA/big.csv"}, 400, "DLI.0001", "a sheet may have at most 2048 KiB"),
    ],
)
def test_sheet_bodies_that_are_refused(world, body, status, code, fragment):
    (world["data"] / "big.csv").write_bytes(b"x" * (MAX_SHEET_BYTES + 1))
    if "uri" in body:
        body = {
            "uri": body["uri"]
            .replace("HOME", str(world["home"]))
            .replace("DATA", str(world["data"]))
        }
    r = post(world, "/samplesheet", body)
    assert r.status_code == status, r.text
    assert r.json()["error_code"] == code and fragment in r.json()["error_msg"], r.text


def test_a_dry_run_of_a_sheet_shows_its_samples_and_each_files_head(world):
    r = post(world, "/jobs", request(world), dry_run="true")
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["reads_ok"] is True and got["read_problems"] == []
    wt1 = got["samples"][0]
    assert wt1["sample_name"] == "WT1" and len(wt1["runs"]) == 2
    assert [(c["run"], c["read"], c["reads_checked"]) for c in wt1["checks"]] == [
        (1, 1, 40),
        (1, 2, 40),
        (2, 1, 40),
        (2, 2, 40),
    ]
    assert got["request"]["library_type"] == "fr-firststrand"
    assert "samplesheet" not in got["request"] and got["request"]["output"].endswith("/out")
    bad = post(
        world,
        "/jobs",
        request(world, samplesheet={"text": sheet_text(world["data"], bad=True)}),
        dry_run="true",
    ).json()
    assert bad["reads_ok"] is False
    assert bad["read_problems"] == [
        f"sample 'KO3', run 1, read 1 '{world['data']}/BAD_S9_L001_R1_001.fastq.gz': is "
        "truncated: its gzip stream ends before its end marker (the file was cut off, e.g. by "
        "an interrupted upload)"
    ]


def test_submit_stores_the_request_the_sheet_made(world):
    r = post(world, "/jobs", request(world))
    assert r.status_code == 201, r.text
    job = (
        world["client"]
        .get(f"/v2.0/A/gene/jobs/{r.json()['job_id']}", headers={"X-Auth-Token": world["token"]})
        .json()
    )
    stored = json.loads(job["request"])
    assert "samplesheet" not in stored and stored["library_type"] == "fr-firststrand"
    assert stored["inputs"][0]["group_inputs"][0]["runs"][1][0].endswith(
        "WT1_S1_L002_R1_001.fastq.gz"
    )
    assert stored["inputs"][1]["group_inputs"][0]["files"][0].endswith(
        "KO1_S1_L001_R1_001.fastq.gz"
    )


def test_errors_in_a_sheets_samples_name_its_rows(world):
    text = sheet_text(world["data"]).replace("KO2_S1_L001_R2_001", "KO2_S1_L001_R2_999")
    r = post(world, "/jobs", request(world, samplesheet={"text": text}))
    assert r.status_code == 400 and r.json()["error_code"] == "DLI.0002"
    assert r.json()["error_msg"].startswith("samplesheet row 6, column fastq_2: '")
    r = post(world, "/jobs", request(world, library_type="fr-unstranded"))
    assert r.json()["error_msg"] == (
        "library_type: 'fr-unstranded', but the samplesheet's strandedness means "
        "'fr-firststrand': give one, or make them agree"
    )


def test_openapi_documents_the_additions(world):
    schemas = world["client"].get("/openapi.json").json()["components"]["schemas"]
    for model, fields in (
        ("SubmitRequest", ("inputs", "samplesheet")),
        ("SampleRequest", ("files", "runs")),
        ("SampleSheetRequest", ("text", "uri", "group_column", "covariate_columns")),
        ("DryRunResponse", ("reads_ok", "read_problems", "request")),
        ("SheetResponse", ("samples", "problems", "library_type")),
    ):
        for f in fields:
            assert schemas[model]["properties"][f].get("description"), (model, f)
    assert "inputs" not in schemas["SubmitRequest"]["required"]


# -- the CLI against the app over real HTTP ----------------------------------------------


@pytest.fixture(scope="module")
def live(world):
    with serve_app(world["client"].app) as url:
        yield url


@pytest.fixture
def cli(live, world, monkeypatch, capsys):
    monkeypatch.setenv("GENEJOBS_URL", live)
    monkeypatch.setenv("GENEJOBS_TOKEN", world["token"])

    def run(*argv: str) -> tuple[int, str, str]:
        code = main([*argv, "--project", "A"])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_cli_pairs_a_folder_into_a_sheet_and_submits_it(cli, world, tmp_path):
    sheet = tmp_path / "sheet.csv"
    code, _, err = cli("samplesheet", f"{world['data']}/", "-o", str(sheet))
    assert code == 0, err
    lines = sheet.read_text().splitlines()
    assert lines[0] == "sample,fastq_1,fastq_2,strandedness,condition"
    assert lines[1].startswith(f"BAD,{world['data']}/BAD_S9_L001_R1_001.fastq.gz,")
    assert sum(line.startswith("WT1,") for line in lines) == 2
    assert "5 samples (6 runs)" in err
    # the lab fixes the guessed groups and drops the broken sample
    rows = [line for line in lines[1:] if not line.startswith("BAD,")]
    fixed = [lines[0]] + [",".join(r.split(",")[:4] + [r.split(",")[0][:2]]) for r in rows]
    sheet.write_text("\n".join(fixed) + "\n")
    args = ["--samplesheet", str(sheet), "--ref", "hg19", "--gtf", "g.gtf"]
    args += ["--output", f"{world['data']}/out"]
    code, out, err = cli("submit", *args, "--dry-run")
    assert code == 0, err
    assert "4 samples in 2 groups (KO, WT)" in out and "WT1" in out and "2 run(s), paired" in out
    assert "every file's head looks right" in out
    code, out, err = cli("submit", *args)
    assert code == 0, err
    assert len(out.strip()) == 36  # the job id


def test_cli_names_every_file_it_could_not_pair(cli, world, tmp_path):
    extra = world["root"] / "extra"
    extra.mkdir(exist_ok=True)
    for name in ("A_R1.fastq.gz", "A_R2.fastq.gz", "B_R1.fastq.gz", "C.fastq.gz"):
        (extra / name).write_bytes(b"")
    code, out, err = cli("samplesheet", f"{extra}/")
    assert code == 0
    assert out.splitlines()[1].startswith("A,")
    assert f"not used: {extra}/B_R1.fastq.gz: read 1 without its read 2: no 'B_R2.fastq.gz'" in err
    assert f"not used: {extra}/C.fastq.gz: no read 1/read 2 marker" in err
