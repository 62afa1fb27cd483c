"""``POST .../samplesheet``: a sample sheet read into samples without submitting anything.

The console's step 2 (upload or paste a sheet, see and edit the samples it makes)
and the CLI call it. It answers 200 with the samples the valid rows made *and* the
problems of the others, so a person can fix the sheet with everything in view; a
body that is not a sheet answers 400 as submit does. Files are not looked at here:
the dry run does that.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, Field

from genejobs.api.deps import PrincipalDep, ProjectId, ServiceDep
from genejobs.api.pool import in_storage_pool
from genejobs.api.routes import ERRORS
from genejobs.jobs.request.samplesheet import read_sheet

router = APIRouter(prefix="/v2.0/{project_id}/gene", responses=ERRORS, tags=["console"])


class SheetSampleResponse(BaseModel):
    sample_name: str = Field(description="The sample column")
    group_name: str = Field(description="Its group (the group column)")
    rows: list[int] = Field(description="The sheet's rows of this sample (the header is row 1)")
    runs: list[list[str]] = Field(
        description="Its runs in row order: [read 1, read 2] or [read] (single-end)"
    )
    covariates: dict[str, str] = Field(description="Its covariate columns' values")


class SheetResponse(BaseModel):
    samples: list[SheetSampleResponse] = Field(description="Samples made from the valid rows")
    inputs: list[dict[str, Any]] = Field(
        description="The request's inputs those samples make (usable in POST .../jobs)"
    )
    library_type: str | None = Field(
        description="library_type from the strandedness column (null: no such column, or the "
        "rows disagree)"
    )
    group_column: str | None = Field(description="The column the groups were read from")
    ignored_columns: list[str] = Field(description="Columns that are neither read nor covariates")
    problems: list[str] = Field(
        description="Every problem, naming its row and column; empty when the sheet is usable"
    )


@router.post(
    "/samplesheet", response_model=SheetResponse, summary="Read a sample sheet into samples"
)
async def parse_samplesheet(
    request: Request,
    project_id: ProjectId,
    principal: PrincipalDep,
    service: ServiceDep,
    body: Annotated[
        Any,
        Body(
            description="The request's samplesheet object: {text | uri, group_column, "
            "covariate_columns} (see SampleSheetRequest)"
        ),
    ],
) -> Any:
    """The samples an nf-core/rnaseq sheet makes, and its problems; nothing is stored."""
    # A sheet given by URI is read from storage: in the bounded storage pool.
    sheet = await in_storage_pool(request, read_sheet, body, service.read_sheet)
    return {
        "samples": [
            {
                "sample_name": s.name,
                "group_name": s.group,
                "rows": s.rows,
                "runs": s.runs,
                "covariates": s.covariates,
            }
            for s in sheet.samples
        ],
        "inputs": sheet.inputs(),
        "library_type": sheet.library_type,
        "group_column": sheet.group_column,
        "ignored_columns": sheet.ignored_columns,
        "problems": sheet.problems,
    }
