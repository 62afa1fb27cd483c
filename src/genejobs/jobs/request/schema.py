"""The one schema of an RNA_DIFF_EXPR request: validation and OpenAPI document alike.

The pydantic models below are what ``/openapi.json`` shows (descriptions, allowed
values, bounds: what the console's form is built from) and what every door
(``POST .../jobs``, a dry run, the command line) validates a body with.
``problems`` turns pydantic's errors into the contract's wording: each names the
field path (``inputs[1].group_inputs[0].files[1]``) and the rule, all at once.
Checks that need more than one field, or the server's references, live in
``genejobs.jobs.request.validation``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import ErrorDetails, PydanticCustomError

from genejobs.errors import ValidationError as GeneJobsValidationError
from genejobs.jobs.request.fastq_names import FASTQ_RULE, is_fastq_name
from genejobs.pipeline.records import LibraryType
from genejobs.storage import parse_uri

JOB_TYPE_RNA_DIFF_EXPR = "RNA_DIFF_EXPR"

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,127}$"
NAME_RULE = "must start with a letter, then letters, digits, '_' or '-', 1-128 characters"
ADAPTER_PATTERN = r"^[ACGTNacgtn]*$"
ADAPTER_RULE = "must be a DNA sequence of the letters A, C, G, T or N"
# A design term: a covariate name or 'group', or an interaction 'a:b' of two of them.
TERM_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,127}(:[A-Za-z][A-Za-z0-9_-]{0,127})?$"
TERM_RULE = "must be a covariate name or 'group', or 'a:b' of two of them"
INTERACTION_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,127}:[A-Za-z][A-Za-z0-9_-]{0,127}$"
INTERACTION_RULE = "must be 'a:b' of two covariate names or 'group'"
# No C0/C1 control characters and no Unicode line or paragraph separators: a job name goes
# into e-mail subjects (where U+2028 or U+0085 break the header) and report titles, an
# address into the To header. (Escapes both Python's re and pydantic's Rust regex read.)
UNSAFE_TEXT = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
JOB_NAME_PATTERN = rf"^[^{UNSAFE_TEXT}]*$"
JOB_NAME_RULE = "must be printable text on one line (no control characters or line separators)"
EMAIL_PATTERN = rf"^[^@\s{UNSAFE_TEXT}]+@[^@\s{UNSAFE_TEXT}]+\.[^@\s{UNSAFE_TEXT}]+$"
EMAIL_RULE = "must be an e-mail address (name@example.org)"
# A covariate's level ("b1", "7", "2024-05-01"): letters, digits, '_', '-', '.'.
LEVEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
LEVEL_RULE = (
    "must start with a letter or digit, then letters, digits, '_', '-' or '.', 1-128 characters"
)

# Bounds on free text and arrays: generous for real use, small enough that no
# request can make the service store or log megabytes (a tester's 10,000-letter
# adapter passed before these existed).
MAX_URI_CHARS = 2048
MAX_ADAPTER_CHARS = 200  # Illumina/Nextera adapters are 13-60 bases
MAX_REFERENCE_NAME_CHARS = 256
MAX_JOB_NAME_CHARS = 128
MAX_GROUPS = 100
MAX_SAMPLES_PER_GROUP = 1000
MAX_COMPARISONS = 200
# Statistics additions (issue 18): covariates per sample, shrinkage, threshold, counts table.
MAX_COVARIATES = 10
MAX_LFC_THRESHOLD = 10.0

LibraryTypeName = Literal["fr-unstranded", "fr-firststrand", "fr-secondstrand", "auto"]
if set(get_args(LibraryTypeName)) != {lt.value for lt in LibraryType} | {"auto"}:
    raise RuntimeError("LibraryTypeName and pipeline.records.LibraryType disagree")

# Lanes x re-sequencing runs of one sample (a NovaSeq S4 has 4 lanes; a few re-runs).
MAX_RUNS_PER_SAMPLE = 64
# A sample sheet is read whole in the API process: 2 MiB holds ~10,000 rows of long URIs.
MAX_SHEET_BYTES = 2 * 1024 * 1024

# Messages for a pattern that did not match, by pattern.
PATTERN_RULES = {
    NAME_PATTERN: NAME_RULE,
    ADAPTER_PATTERN: ADAPTER_RULE,
    JOB_NAME_PATTERN: JOB_NAME_RULE,
    LEVEL_PATTERN: LEVEL_RULE,
    EMAIL_PATTERN: EMAIL_RULE,
    TERM_PATTERN: TERM_RULE,
    INTERACTION_PATTERN: INTERACTION_RULE,
}
# Messages for an array of the wrong length, by field name.
LENGTH_RULES = {
    "inputs": f"at least two groups are required (e.g. treated and control), at most {MAX_GROUPS}",
    "group_inputs": f"at least two samples per group are required, at most {MAX_SAMPLES_PER_GROUP}",
    "files": "exactly two .fastq.gz files are required (read 1, then read 2; .fq.gz and plain "
    ".fastq/.fq also accepted; several runs or single-end reads: give runs instead)",
    "runs": f"must list 1 to {MAX_RUNS_PER_SAMPLE} runs, each [read 1, read 2] or [read]",
    "comparisons": "must be a non-empty array of {control, treatment}, "
    f"at most {MAX_COMPARISONS}",
    "covariates": f"must name at most {MAX_COVARIATES} covariates",
}


def _location(value: str) -> str:
    """A path or URI genejobs can read or write (the scheme's rules, not existence)."""
    try:
        parse_uri(value, field="")
    except GeneJobsValidationError as err:
        raise PydanticCustomError("location", err.message.removeprefix(": ")) from None
    return value


def _fastq(value: str) -> str:
    if not is_fastq_name(value):
        raise PydanticCustomError("fastq_name", "'{value}' " + FASTQ_RULE, {"value": value})
    return value


Uri = Annotated[
    str,
    Field(min_length=1, max_length=MAX_URI_CHARS, examples=["s3a://diff-expr/out"]),
    AfterValidator(_location),
]
FastqUri = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_URI_CHARS,
        examples=["s3a://diff-expr/SRR6354710_2M_R1.fastq.gz"],
    ),
    AfterValidator(_location),
    AfterValidator(_fastq),
]
Name = Annotated[str, Field(pattern=NAME_PATTERN, min_length=1, max_length=128)]
Level = Annotated[str, Field(pattern=LEVEL_PATTERN, min_length=1, max_length=128)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SampleRequest(_Strict):
    sample_name: Name = Field(
        description="Starts with a letter, then letters, digits, '_' or '-'; 1-128 characters; "
        "unique within the job",
        examples=["SRR6354710_2M"],
    )
    files: list[FastqUri] | None = Field(
        None,
        description="One paired run: exactly two distinct FASTQ paths or URIs, read 1 then "
        "read 2 (.fastq.gz or .fq.gz recommended; plain .fastq/.fq accepted). Give files or "
        "runs, not both; neither when the job reads a counts table (counts)",
        min_length=2,
        max_length=2,
    )
    runs: list[Annotated[list[FastqUri], Field(min_length=1, max_length=2)]] | None = Field(
        None,
        description="Instead of files (addition): the sample's runs (lanes or re-sequencing), "
        "read in order as one stream; each run is [read 1, read 2] (paired) or [read] "
        f"(single-end), at most {MAX_RUNS_PER_SAMPLE} runs. A job is single-end or paired as "
        "a whole, and every file appears once in a job",
        min_length=1,
        max_length=MAX_RUNS_PER_SAMPLE,
        examples=[
            [
                [
                    "s3a://lab/Liver1_S1_L001_R1_001.fastq.gz",
                    "s3a://lab/Liver1_S1_L001_R2_001.fastq.gz",
                ],
                [
                    "s3a://lab/Liver1_S1_L002_R1_001.fastq.gz",
                    "s3a://lab/Liver1_S1_L002_R2_001.fastq.gz",
                ],
            ]
        ],
    )
    # -- statistics additions (issue 18) --
    covariates: dict[Name, Level] | None = Field(
        None,
        description='Other factors of this sample, e.g. {"batch": "b1"} or '
        '{"donor": "d7"}; every sample carries the same names; the design becomes '
        "~ <covariates in the order given> + group (addition)",
        max_length=MAX_COVARIATES,
        examples=[{"batch": "b1"}],
    )


class GroupRequest(_Strict):
    group_name: Name = Field(
        description="Group name, same naming rule as samples; unique", examples=["K"]
    )
    group_inputs: list[SampleRequest] = Field(
        description=f"The group's samples: at least two, at most {MAX_SAMPLES_PER_GROUP}",
        min_length=2,
        max_length=MAX_SAMPLES_PER_GROUP,
    )


class ComparisonRequest(_Strict):
    control: Name = Field(description="Name of the control group")
    treatment: Name = Field(description="Name of the treatment group")


class NotifyRequest(_Strict):
    """Where to say that the job ended (FINISHED, FAILED or CANCELLED)."""

    webhook: str | None = Field(
        None,
        description="An http(s) URL that receives a signed JSON POST when the job ends "
        "(header X-Genejobs-Signature: sha256=<HMAC-SHA256 of the body>); its host must be "
        "allowed by the server (GENEJOBS_WEBHOOK_ALLOWED_HOSTS)",
        min_length=1,
        max_length=MAX_URI_CHARS,
        examples=["https://lims.example.org/hooks/genejobs"],
    )
    email: str | None = Field(
        None,
        description="An e-mail address told when the job ends (needs GENEJOBS_SMTP_URL)",
        min_length=3,
        max_length=254,
        pattern=EMAIL_PATTERN,
        examples=["lab@example.org"],
    )


class SampleSheetRequest(_Strict):
    """An nf-core/rnaseq sample sheet turned into the request's inputs at the door."""

    text: str | None = Field(
        None,
        description="The sheet itself (CSV or TSV, UTF-8); header row first. Give text or uri",
        min_length=1,
        max_length=MAX_SHEET_BYTES,
        examples=[
            "sample,fastq_1,fastq_2,strandedness,condition\n"
            "WT1,s3a://lab/WT1_L001_R1.fastq.gz,s3a://lab/WT1_L001_R2.fastq.gz,reverse,WT\n"
        ],
    )
    uri: Uri | None = Field(
        None,
        description="Where the sheet is (a .csv, .tsv or .txt file the service may read, "
        f"at most {MAX_SHEET_BYTES // 1024} KiB); relative FASTQ paths in it are read from "
        "the sheet's folder. Give text or uri",
        examples=["s3a://lab/run42/samplesheet.csv"],
    )
    group_column: Name | None = Field(
        None,
        description="The column holding each sample's group (default: condition, else group)",
        examples=["condition"],
    )
    covariate_columns: list[Name] | None = Field(
        None,
        description="Columns that become each sample's covariates (e.g. batch, donor); "
        "other extra columns are ignored",
        max_length=MAX_COVARIATES,
        examples=[["batch"]],
    )


class SubmitRequest(_Strict):
    """An RNA_DIFF_EXPR job request (the contract's fields plus genejobs' optional additions)."""

    job_type: Literal["RNA_DIFF_EXPR"] = Field(description="The job type")
    name: str | None = Field(
        None,
        description="A name for the job, shown in the list, the console and the report (addition)",
        max_length=MAX_JOB_NAME_CHARS,
        pattern=JOB_NAME_PATTERN,
        examples=["liver treated vs control"],
    )
    # Not required by the schema only because a samplesheet may stand in for it: a body
    # without either is refused ("inputs: is required"); the default is never validated.
    inputs: list[GroupRequest] = Field(
        default=[],
        description=f"The experimental and control groups: at least two, at most {MAX_GROUPS}; "
        "required unless samplesheet is given",
        min_length=2,
        max_length=MAX_GROUPS,
    )
    samplesheet: SampleSheetRequest | None = Field(
        None,
        description="Instead of inputs (addition): an nf-core/rnaseq sample sheet "
        "(sample,fastq_1,fastq_2,strandedness plus a group column; CSV or TSV), given as text "
        "or as a storage URI; it becomes inputs (rows of one sample are its runs, in order) "
        "and library_type. The stored request holds the inputs it made",
    )
    output: Uri = Field(
        description="A .csv path for the results table, or a folder: the table then goes to "
        "<output>/<job_id>.csv; other artifacts always go to <folder>/<job_id>/"
    )
    adapt: str | None = Field(
        None,
        description="Adapter sequence to trim from read 1 (its reverse complement from read 2); "
        "empty or absent when the reads are already trimmed",
        max_length=MAX_ADAPTER_CHARS,
        pattern=ADAPTER_PATTERN,
        examples=["AGATCGGAAGAGC"],
    )
    ref: str | None = Field(
        None,
        description="Name of a registered reference genome (GET .../gene/references); "
        "required unless counts is given",
        min_length=1,
        max_length=MAX_REFERENCE_NAME_CHARS,
    )
    gtf: str | None = Field(
        None,
        description="Name of an annotation registered for that reference; required unless "
        "counts is given",
        min_length=1,
        max_length=MAX_REFERENCE_NAME_CHARS,
    )
    is_export_qc: bool = Field(
        False, description="Also write BAMs, RSeQC and read QC, and a MultiQC report"
    )
    bed: Uri | None = Field(
        None, description="Gene-model BED for RSeQC; required when is_export_qc is true"
    )
    library_type: LibraryTypeName = Field(
        "fr-unstranded",
        description="Strandedness: fr-unstranded, fr-firststrand (dUTP, Illumina TruSeq "
        "Stranded), fr-secondstrand (ligation); 'auto' lets the reads decide",
    )
    comparisons: list[ComparisonRequest] | None = Field(
        None,
        description="Control/treatment pairs to test (default: every group against the first)",
        min_length=1,
        max_length=MAX_COMPARISONS,
    )
    gene_sets: Uri | None = Field(
        None, description="Gene sets (GMT) for enrichment: ORA and preranked GSEA (addition)"
    )
    # -- statistics additions (issue 18) --
    shrink: bool = Field(
        False,
        description="Also report apeGLM-style shrunken log2 fold changes (column lfc_shrunk); "
        "plots and enrichment ranking then use them (addition)",
    )
    lfc_threshold: float = Field(
        0.0,
        description="Test |log2 fold change| > this value (DESeq2's lfcThreshold, "
        "altHypothesis greaterAbs) instead of != 0 (addition)",
        ge=0.0,
        le=MAX_LFC_THRESHOLD,
        examples=[1.0],
    )
    interactions: list[Annotated[str, Field(pattern=INTERACTION_PATTERN)]] | None = Field(
        None,
        description="Interaction terms added to the design after the groups, each 'a:b' "
        "of two covariate names or 'group' (R's a:b), e.g. ['genotype:group'] (addition)",
        max_length=MAX_COVARIATES,
        examples=[["genotype:group"]],
    )
    test: Literal["Wald", "LRT"] = Field(
        "Wald",
        description="'Wald' tests each comparison; 'LRT' tests the full design against the "
        "'reduced' one (DESeq2's likelihood-ratio test) and gives one results table "
        "(addition)",
    )
    reduced: list[Annotated[str, Field(pattern=TERM_PATTERN)]] | None = Field(
        None,
        description="With test 'LRT': the terms of the reduced design, a part of the full "
        "design's (covariate names, 'group', 'a:b'); [] is ~ 1 (addition)",
        max_length=MAX_COVARIATES + 1,
        examples=[["batch"]],
    )
    coefficient: Annotated[str, Field(min_length=1, max_length=300)] | None = Field(
        None,
        description="With test 'LRT': the design column whose log2 fold changes the table "
        "reports, e.g. 'group[T.t2]' or 'genotype[T.KO]:group[T.trt]'; the last one when "
        "absent, as R's results() (addition)",
    )
    counts: Uri | None = Field(
        None,
        description="A genes x samples counts table (TSV or CSV; first column gene id, optional "
        "gene_name column; nf-core/rnaseq's salmon.merged.gene_counts.tsv and featureCounts "
        "output as they are) instead of files per sample: sample_name picks the column; "
        "ref/gtf become optional (gene names); no trimming, alignment or QC (addition)",
        examples=["s3a://diff-expr/salmon.merged.gene_counts.tsv"],
    )
    notify: NotifyRequest | None = Field(
        None, description="Tell a webhook and/or an e-mail address when the job ends (addition)"
    )
    # -- transcript-level quantifier (issue 16) --
    quantifier: Literal["genome", "transcripts"] = Field(
        "genome",
        description="How reads become gene counts (addition): 'genome' aligns to the genome "
        "and counts pairs per gene with htseq-count's rules (multi-mapping pairs dropped); "
        "'transcripts' quantifies against the annotation's transcripts with salmon, whose EM "
        "shares multi-mapping reads (paralogs, rRNA copies), and sums per gene with "
        "tximport's lengthScaledTPM",
    )


def field_path(loc: Sequence[int | str]) -> str:
    """``("inputs", 1, "files", 0)`` -> ``inputs[1].files[0]``; ``()`` -> ``body``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _model_at(loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The model class that holds the field at ``loc`` (to list its allowed fields)."""
    model: Any = SubmitRequest
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        is_model = isinstance(model, type) and issubclass(model, BaseModel)
        field = model.model_fields.get(part) if is_model else None
        if field is None:
            return None
        model = _unwrap(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """``list[X] | None`` -> ``X``: the model a nested field holds."""
    while get_origin(annotation) is not None:
        args = [a for a in get_args(annotation) if a is not type(None)]
        if not args:
            return annotation
        annotation = args[0]
    return annotation


def _rule(error: ErrorDetails) -> str:
    """One pydantic error in the contract's words (without the field path)."""
    kind, ctx, loc = error["type"], error.get("ctx") or {}, error["loc"]
    last = next((p for p in reversed(loc) if isinstance(p, str)), "")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        holder = _model_at(loc)
        allowed = ", ".join(sorted(holder.model_fields)) if holder else ""
        return f"unknown field (allowed: {allowed})" if allowed else "unknown field"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "must be a JSON object"
    if kind == "string_type":
        return "must be a string"
    if kind in ("bool_type", "bool_parsing"):
        return "must be a boolean (true or false)"
    if kind in ("float_type", "float_parsing"):
        return "must be a number"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}"
    if kind == "list_type":
        return "must be an array"
    if kind == "string_pattern_mismatch":
        return PATTERN_RULES.get(str(ctx.get("pattern")), "has characters that are not allowed")
    if kind in ("too_short", "too_long") and last == "runs" and isinstance(loc[-1], int):
        return "a run is [read 1, read 2] (paired) or [read] (single-end)"
    if kind in ("too_short", "too_long") and last in LENGTH_RULES:
        return LENGTH_RULES[last]
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}".replace("'", "")
    return str(error.get("msg", "is not valid"))


def problems(errors: Iterable[ErrorDetails], *, strip: int = 0) -> list[str]:
    """``field: rule`` for each error, in order; ``strip`` drops leading loc parts."""
    out: list[str] = []
    for error in errors:
        line = f"{field_path(error['loc'][strip:])}: {_rule(error)}"
        if line not in out:
            out.append(line)
    return out
