"""A small HTTP client for the gene-jobs API, used by the CLI and the demo."""

from __future__ import annotations

import builtins
from typing import Any, BinaryIO
from urllib.parse import quote

import httpx

FULL_ID_LENGTH = 36  # a UUID with its dashes
MIN_ID_PREFIX = 6


class ClientError(Exception):
    """An error answer of the API, in the contract's error format."""

    def __init__(self, status: int, error_code: str, error_msg: str) -> None:
        super().__init__(f"{status} {error_code}: {error_msg}")
        self.status = status
        self.error_code = error_code
        self.error_msg = error_msg


class GeneJobsClient:
    def __init__(self, url: str, token: str, *, timeout_s: float = 60.0) -> None:
        self._http = httpx.Client(
            base_url=url.rstrip("/"), headers={"X-Auth-Token": token}, timeout=timeout_s
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ClientError(
                0, "CONNECTION", f"cannot reach {self._http.base_url}: {exc}"
            ) from exc
        if response.status_code >= 400:
            try:
                body = response.json()
                raise ClientError(response.status_code, body["error_code"], body["error_msg"])
            except (ValueError, KeyError, TypeError):
                raise ClientError(response.status_code, "HTTP", response.text[:500]) from None
        return response.json()

    def submit(self, project: str, request: dict[str, Any]) -> str:
        return str(self._call("POST", f"/v2.0/{project}/gene/jobs", json=request)["job_id"])

    def dry_run(self, project: str, request: dict[str, Any]) -> dict[str, Any]:
        """Every check a submit makes, nothing stored (``POST .../jobs?dry_run=true``)."""
        path = f"/v2.0/{project}/gene/jobs"
        return dict(self._call("POST", path, json=request, params={"dry_run": "true"}))

    def samplesheet(self, project: str, sheet: dict[str, Any]) -> dict[str, Any]:
        """The samples a sample sheet makes, and its problems (``POST .../samplesheet``)."""
        return dict(self._call("POST", f"/v2.0/{project}/gene/samplesheet", json=sheet))

    def files(self, project: str, prefix: str, *, marker: str | None = None) -> dict[str, Any]:
        """One page of what the service may read under ``prefix`` (``GET .../files``)."""
        query = {"prefix": prefix, "limit": 1000} | ({"marker": marker} if marker else {})
        return dict(self._call("GET", f"/v2.0/{project}/gene/files", params=query))

    def list(self, project: str, **params: Any) -> dict[str, Any]:
        query = {k: v for k, v in params.items() if v is not None}
        return dict(self._call("GET", f"/v2.0/{project}/gene/jobs", params=query))

    def resolve(self, project: str, job_id: str) -> str:
        """The full id of a job given by its id or a unique prefix (6+ characters, as the
        console and CLI show ids shortened); a prefix that fits none or several is named."""
        wanted = job_id.strip().lower()
        if len(wanted) == FULL_ID_LENGTH:
            return wanted
        if len(wanted) < MIN_ID_PREFIX:
            raise ClientError(
                400,
                "DLI.0001",
                f"job id '{job_id}': give the whole id or at least {MIN_ID_PREFIX} of its "
                "first characters",
            )
        page = self.list(project, id_prefix=wanted, limit=3)
        ids = [str(r["job_id"]) for r in page["jobs"]]
        if not ids:
            raise ClientError(
                404, "DLI.0023", f"no job in project '{project}' has an id starting '{wanted}'"
            )
        if len(ids) > 1:
            more = page["job_count"] - len(ids)
            shown = ", ".join(ids) + (f" and {more} more" if more > 0 else "")
            raise ClientError(
                400,
                "DLI.0001",
                f"job id '{wanted}' is ambiguous: it starts {shown}; give more characters",
            )
        return ids[0]

    def show(self, project: str, job_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/v2.0/{project}/gene/jobs/{job_id}"))

    def cancel(self, project: str, job_id: str) -> None:
        self._call("DELETE", f"/v2.0/{project}/gene/jobs/{job_id}")

    def purge(self, project: str, job_id: str) -> None:
        """Delete an ended job's outputs and record (``DELETE ...?purge=true``)."""
        self._call("DELETE", f"/v2.0/{project}/gene/jobs/{job_id}", params={"purge": "true"})

    def stats(self, project: str, **params: Any) -> dict[str, Any]:
        query = {k: v for k, v in params.items() if v is not None}
        return dict(self._call("GET", f"/v2.0/{project}/gene/statistics", params=query))

    def references(self, project: str) -> builtins.list[dict[str, Any]]:
        """What ``ref``/``gtf`` may be on the service (``GET .../references``)."""
        return list(self._call("GET", f"/v2.0/{project}/gene/references")["references"])

    def outputs(
        self, project: str, job_id: str
    ) -> builtins.list[dict[str, Any]]:  # (list: a method)
        return list(self._call("GET", f"/v2.0/{project}/gene/jobs/{job_id}/outputs")["outputs"])

    def share(self, project: str, job_id: str, days: int) -> dict[str, Any]:
        """A signed link to the job's report (``POST .../share``): url, path, expires, days."""
        path = f"/v2.0/{project}/gene/jobs/{job_id}/share"
        return dict(self._call("POST", path, params={"days": days}))

    def download(self, project: str, job_id: str, path: str, sink: BinaryIO) -> int:
        """Stream one output into ``sink``; returns the bytes written."""
        quoted = "/".join(quote(p, safe="") for p in path.split("/"))
        url = f"/v2.0/{project}/gene/jobs/{job_id}/outputs/{quoted}"
        try:
            with self._http.stream("GET", url) as response:
                if response.status_code >= 400:
                    response.read()
                    try:
                        body = response.json()
                        raise ClientError(
                            response.status_code, body["error_code"], body["error_msg"]
                        )
                    except (ValueError, KeyError, TypeError):
                        raise ClientError(
                            response.status_code, "HTTP", response.text[:500]
                        ) from None
                written = 0
                for chunk in response.iter_bytes():
                    sink.write(chunk)
                    written += len(chunk)
                return written
        except httpx.HTTPError as exc:
            raise ClientError(
                0, "CONNECTION", f"cannot reach {self._http.base_url}: {exc}"
            ) from exc
