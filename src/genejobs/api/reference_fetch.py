"""``POST .../references``: an administrator fetches a catalogue reference by name.

What it costs the server decides the shape: a fetch downloads gigabytes and builds a
minimap2 index (an hour of CPU and several GB of memory for GRCh38), so it runs as
its own process (``genejobs ref fetch``, niced), never in the request thread or the
API's memory; at most one runs per server (a second is refused, 400 DLI.0012); only
a tenant administrator may start one; the body names a catalogue entry and release
only, never a URL (the mirror is the server's setting, so no token can make the
server fetch from an address of its choosing). ``GET .../references/fetch`` shows
the last fetch's state and the tail of its log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from genejobs.api.deps import PrincipalDep, ProjectId, ServiceDep
from genejobs.api.routes import ERRORS
from genejobs.errors import Forbidden, Unavailable

router = APIRouter(prefix="/v2.0/{project_id}/gene", responses=ERRORS, tags=["console"])

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class FetchReferenceRequest(BaseModel):
    name: str = Field(pattern=_NAME, description="A catalogue name or alias (GRCh38, R64-1-1...)")
    release: str | None = Field(
        None, pattern=r"^[A-Za-z0-9._-]{1,16}$", description="Default: the catalogue's"
    )


class FetchState(BaseModel):
    state: str = Field(description="none, running, succeeded or failed")
    name: str | None = None
    release: str | None = None
    started: str | None = None
    log_tail: list[str] = Field(default_factory=list)


def _folder(service: Any) -> Path:
    folder = Path(service.settings.reference_root) / ".fetch"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}  # reaped when their state is read


def _state(folder: Path) -> dict[str, Any]:
    path = folder / "state.json"
    if not path.is_file():
        return {"state": "none"}
    st: dict[str, Any] = json.loads(path.read_text())
    if st.get("state") == "running":
        child = _CHILDREN.get(int(st["pid"]))
        code = child.poll() if child is not None else None
        if child is not None and code is not None:
            _CHILDREN.pop(int(st["pid"]), None)
            st["state"] = "succeeded" if code == 0 else "failed"
            path.write_text(json.dumps(st))
        elif child is None and not _alive(int(st["pid"])):
            st["state"] = "failed"  # the process is gone (a restart): said as failed
            path.write_text(json.dumps(st))
    log = folder / "fetch.log"
    if log.is_file():
        with open(log, "rb") as fh:
            fh.seek(max(0, log.stat().st_size - 4000))
            st["log_tail"] = fh.read().decode(errors="replace").splitlines()[-15:]
    return st


def _require_admin(principal: Any) -> None:
    if not principal.is_admin:
        raise Forbidden("only a tenant administrator may fetch references")


@router.post(
    "/references",
    response_model=FetchState,
    status_code=202,
    summary="Fetch a catalogue reference (administrators)",
)
def fetch_reference(
    project_id: ProjectId,
    principal: PrincipalDep,
    service: ServiceDep,
    body: FetchReferenceRequest,
) -> Any:
    """Start ``genejobs ref fetch NAME`` in the background; 202 with its state."""
    _require_admin(principal)
    from genejobs.references.catalogue import load_catalogue

    entry = load_catalogue().get(body.name, body.release)  # unknown: 400 DLI.0002, close names
    folder = _folder(service)
    current = _state(folder)
    if current.get("state") == "running":
        raise Unavailable(
            f"a reference fetch is already running ({current.get('name')} "
            f"release {current.get('release')}); one at a time per server"
        )
    argv = [sys.executable, "-m", "genejobs.cli", "ref", "fetch", entry.name]
    argv += ["--release", entry.release, "--no-progress"]
    env = dict(os.environ)
    env["GENEJOBS_REFERENCE_ROOT"] = str(
        service.settings.reference_uri or service.settings.reference_root
    )
    with open(folder / "fetch.log", "wb") as log:
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # not killed with a request; survives nothing else
            preexec_fn=lambda: os.nice(10),  # noqa: PLW1509 - jobs and the API go first
        )
    _CHILDREN[child.pid] = child
    st = {
        "state": "running",
        "pid": child.pid,
        "name": entry.name,
        "release": entry.release,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "by": principal.user,
    }
    (folder / "state.json").write_text(json.dumps(st))
    return _state(folder)


@router.get(
    "/references/fetch",
    response_model=FetchState,
    summary="The state of the last reference fetch (administrators)",
)
def fetch_state(project_id: ProjectId, principal: PrincipalDep, service: ServiceDep) -> Any:
    _require_admin(principal)
    return _state(_folder(service))
