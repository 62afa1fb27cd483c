"""nf-core/rnaseq sample sheets -> the request's inputs; every error names its row and column."""

from __future__ import annotations

import pytest

from genejobs.errors import ValidationError
from genejobs.jobs.request.samplesheet import (
    MAX_SHEET_ROWS,
    expand_samplesheet,
    parse_sheet,
    relabel,
    row_list,
    sheet_request,
)
from genejobs.jobs.request.validation import validate_request

REFS = {"hg19": ["gencode.v17.annotation.gtf"]}
B = "s3a://lab/run"
SHEET = f"""sample,fastq_1,fastq_2,strandedness,condition,batch
WT1,{B}/WT1_L001_R1.fastq.gz,{B}/WT1_L001_R2.fastq.gz,reverse,WT,b1
WT1,{B}/WT1_L002_R1.fastq.gz,{B}/WT1_L002_R2.fastq.gz,reverse,WT,b1
WT2,{B}/WT2_R1.fastq.gz,{B}/WT2_R2.fastq.gz,reverse,WT,b2
KO1,{B}/KO1_R1.fq.gz,{B}/KO1_R2.fq.gz,reverse,KO,b1
KO2,{B}/KO2_R1.fastq,{B}/KO2_R2.fastq,reverse,KO,b2
"""


def body(**sheet) -> dict:
    return {
        "job_type": "RNA_DIFF_EXPR",
        "samplesheet": {"text": SHEET, **sheet},
        "ref": "hg19",
        "gtf": "gencode.v17.annotation.gtf",
        "output": "s3a://lab/out",
    }


def problems_of(text: str, **kw) -> list[str]:
    return parse_sheet(text, **kw).problems


def test_rows_of_a_sample_merge_as_runs_in_order_and_strandedness_sets_library_type():
    sheet = parse_sheet(SHEET, covariate_columns=["batch"])
    assert sheet.problems == [] and sheet.group_column == "condition"
    assert sheet.library_type == "fr-firststrand"
    assert sheet.groups == ["WT", "KO"]
    wt1 = sheet.samples[0]
    assert (wt1.name, wt1.rows, wt1.covariates) == ("WT1", [2, 3], {"batch": "b1"})
    assert wt1.runs == [
        [f"{B}/WT1_L001_R1.fastq.gz", f"{B}/WT1_L001_R2.fastq.gz"],
        [f"{B}/WT1_L002_R1.fastq.gz", f"{B}/WT1_L002_R2.fastq.gz"],
    ]
    inputs = sheet.inputs()
    assert inputs[0]["group_inputs"][0]["runs"] == wt1.runs
    # one paired run keeps the contract's own shape
    assert inputs[0]["group_inputs"][1]["files"] == [
        f"{B}/WT2_R1.fastq.gz",
        f"{B}/WT2_R2.fastq.gz",
    ]


def test_the_sheet_becomes_the_stored_request():
    spec, stored = validate_request(body(covariate_columns=["batch"]), job_id="J", references=REFS)
    assert "samplesheet" not in stored
    assert stored["library_type"] == "fr-firststrand"
    assert [g["group_name"] for g in stored["inputs"]] == ["WT", "KO"]
    assert [len(s.runs) for s in spec.samples] == [2, 1, 1, 1]
    assert spec.covariates == ("batch",)


@pytest.mark.parametrize(
    ("text", "kw", "expected"),
    [
        ("", {}, "samplesheet: is empty"),
        ("sample;fastq_1;condition\nA;/x_R1.fq.gz;K\n", {}, "separated by commas (CSV) or tabs"),
        ("sample,fastq_2,condition\nA,/a.fq.gz,K\n", {}, "samplesheet: no 'fastq_1' column"),
        ("sample,fastq_1\nA,/a.fq.gz\n", {}, "samplesheet: no group column"),
        ("sample,fastq_1,cond\nA,/a.fq.gz,K\n", {"group_column": "treat"}, "no column 'treat'"),
        ("sample,fastq_1,group\n", {}, "samplesheet: has a header but no rows"),
        ("sample,sample,fastq_1,group\n", {}, "row 1: column 'sample' appears twice"),
        (
            "sample,fastq_1,group\nA,/a.fq.gz,K\n",
            {"covariate_columns": ["batch"]},
            "samplesheet.covariate_columns: no column 'batch'",
        ),
        (
            'sample,fastq_1,group\nA,"/a.fq.gz,K\n',
            {},
            "samplesheet row",
        ),
    ],
)
def test_sheet_level_problems(text, kw, expected):
    found = problems_of(text, **kw)
    assert any(expected in p for p in found), found


def test_every_cell_problem_names_its_row_and_column():
    text = (
        "sample,fastq_1,fastq_2,strandedness,condition,batch\n"
        "1A,/d/a_R1.fq.gz,/d/a_R2.fq.gz,reverse,K,b1\n"  # 2: sample name
        "B,/d/b_R1.bam,/d/b_R2.fq.gz,reverse,K,b1\n"  # 3: not FASTQ
        "C,reads/c_R1.fq.gz,/d/c_R2.fq.gz,reverse,K,b1\n"  # 4: relative path
        "D,/d/a_R1.fq.gz,/d/d_R2.fq.gz,reverse,K,b1\n"  # 5: file of row 2
        "E,/d/e_R1.fq.gz,/d/e_R2.fq.gz,sideways,K,b1\n"  # 6: strandedness
        "F,,/d/f_R2.fq.gz,reverse,K,b1\n"  # 7: no read 1
        "G,/d/g_R1.fq.gz,/d/g_R2.fq.gz,reverse,9K,b1\n"  # 8: group name
        "H,/d/h_R1.fq.gz,/d/h_R2.fq.gz,reverse,K,b 1\n"  # 9: covariate level
        "I,http://x/i_R1.fq.gz,/d/i_R2.fq.gz,reverse,K,b1\n"  # 10: location
        "J,/d/j_R1.fq.gz,/d/j_R2.fq.gz,reverse,K,b1,extra\n"  # 11: too many cells
        "K,/d/k_R1.fq.gz,/d/k_R2.fq.gz,reverse,K,b1\n"
        "K,/d/k2_R1.fq.gz,/d/k2_R2.fq.gz,reverse,W,b2\n"  # 13: group and batch disagree
    )
    found = problems_of(text, covariate_columns=["batch"])
    expected = [
        "samplesheet row 2, column sample: '1A' must start with a letter",
        "samplesheet row 3, column fastq_1: '/d/b_R1.bam' must be a FASTQ file",
        "samplesheet row 4, column fastq_1: 'reads/c_R1.fq.gz' is a relative path",
        "samplesheet row 5, column fastq_1: '/d/a_R1.fq.gz' is also on row 2 (fastq_1)",
        "samplesheet row 6, column strandedness: 'sideways' must be one of unstranded, reverse, "
        "forward, auto",
        "samplesheet row 7, column fastq_1: is empty",
        "samplesheet row 8, column condition: '9K' must start with a letter",
        "samplesheet row 9, column batch: 'b 1' must start with a letter or digit",
        "samplesheet row 10, column fastq_1: 'http://x/i_R1.fq.gz' is not a supported location",
        "samplesheet row 11: has 7 cells, the header 6",
        "samplesheet row 13, column condition: 'W', but row 12 puts sample 'K' in 'K'",
        "samplesheet row 13, column batch: 'b2', but row 12 gives sample 'K' batch 'b1'",
    ]
    for e in expected:
        assert any(p.startswith(e) for p in found), (e, found)
    assert len(found) == len(expected), found


def test_rows_must_agree_on_strandedness_and_on_single_or_paired():
    text = (
        "sample,fastq_1,fastq_2,strandedness,group\n"
        "A,/d/a.fq.gz,,reverse,K\n"
        "B,/d/b_R1.fq.gz,/d/b_R2.fq.gz,unstranded,K\n"
        "C,/d/c_R1.fq.gz,/d/c_R2.fq.gz,unstranded,K\n"
    )
    sheet = parse_sheet(text)
    assert sheet.problems == [
        "samplesheet column fastq_2: empty on row 2 (single-end) but given on rows 3-4 "
        "(paired): a job is single-end or paired as a whole",
        "samplesheet column strandedness: the rows disagree (reverse on row 2 and unstranded on "
        "rows 3-4): a job has one library type",
    ]
    assert sheet.library_type is None


def test_tsv_a_byte_order_mark_case_and_blank_rows():
    text = "\ufeffSample\tFASTQ_1\tfastq_2\tStrandedness\tGroup\n\nA\t/d/a.fq\t\tForward\tK\n\n"
    sheet = parse_sheet(text)
    assert sheet.problems == []
    assert sheet.library_type == "fr-secondstrand"
    assert sheet.samples[0].runs == [["/d/a.fq"]]
    assert sheet.inputs()[0]["group_inputs"][0] == {"sample_name": "A", "runs": [["/d/a.fq"]]}


def test_relative_paths_are_read_from_the_sheets_folder_when_given_by_uri():
    sheet = parse_sheet("sample,fastq_1,group\nA,reads/a.fq.gz,K\n", base="s3a://lab/run")
    assert sheet.samples[0].runs == [["s3a://lab/run/reads/a.fq.gz"]]


def test_the_sheet_is_bounded_and_problems_are_capped():
    rows = "".join(f"S{i},/d/x.bam,,K\n" for i in range(80))
    found = problems_of("sample,fastq_1,fastq_2,group\n" + rows)
    assert len(found) == 51 and found[-1] == "samplesheet: 30 more problems not listed"
    huge = "sample,fastq_1,group\n" + "A,/a.fq,K\n" * (MAX_SHEET_ROWS + 1)
    assert "at most 10000 rows" in problems_of(huge)[0]


def test_the_samplesheet_object_is_checked():
    with pytest.raises(ValidationError, match="give the sheet as text or as uri"):
        sheet_request({"group_column": "condition"})
    with pytest.raises(ValidationError, match="must name a .csv, .tsv or .txt file"):
        sheet_request({"uri": "/srv/genejobs/token"})
    with pytest.raises(ValidationError, match=r"samplesheet\.colour: unknown field"):
        sheet_request({"text": "x", "colour": 1})


def test_the_request_around_a_sheet():
    with pytest.raises(ValidationError, match="inputs: not allowed with samplesheet"):
        expand_samplesheet({**body(), "inputs": []}, None)
    with pytest.raises(ValidationError, match="library_type: 'fr-unstranded', but the"):
        expand_samplesheet({**body(), "library_type": "fr-unstranded"}, None)
    with pytest.raises(ValidationError, match="samplesheet.uri: cannot be read here"):
        expand_samplesheet({**body(), "samplesheet": {"uri": "s3a://lab/s.csv"}}, None)
    same, labels, sheet = expand_samplesheet({"job_type": "RNA_DIFF_EXPR"}, None)
    assert sheet is None and labels == {} and same == {"job_type": "RNA_DIFF_EXPR"}


def test_request_rules_on_a_sheets_samples_name_its_rows():
    text = (
        "sample,fastq_1,fastq_2,group\n"
        "A,/d/a_R1.fq.gz,/d/a_R2.fq.gz,K\n"
        "B,/d/b_R1.fq.gz,/d/b_R2.fq.gz,K\n"
        "C,s3a://other/c_R1.fq.gz,s3a://other/c_R2.fq.gz,W\n"
    )
    req = body()
    req["samplesheet"] = {"text": text}
    with pytest.raises(ValidationError) as err:
        validate_request(req, job_id="J", references=REFS)
    assert (
        "samplesheet group 'W' (column group), group_inputs: at least two samples per group"
        in err.value.message
    )


def test_relabel_and_row_list():
    labels = {"inputs[0].group_inputs[1]": "samplesheet sample 'B' (rows 3-4)"}
    assert relabel("inputs[0].group_inputs[1].sample_name: bad; ref: x", labels) == (
        "samplesheet sample 'B' (rows 3-4), sample_name: bad; ref: x"
    )
    assert row_list([7, 2, 3, 4]) == "rows 2-4, 7" and row_list([5]) == "row 5"
