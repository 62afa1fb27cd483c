"""Readable terminal output for the CLI and the demo: job tables, summaries, following a job.

Everything here reads the public API's answers (the client's dicts); nothing
touches the store, so what the terminal shows is what any client sees.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from genejobs.jobs.request.spec import artifacts_folder
from genejobs.jobs.states import has_ended

STATUS_STYLE = {
    "LAUNCHING": "grey62",
    "RUNNING": "bold blue",
    "CANCELING": "dark_orange",
    "FINISHED": "bold green",
    "FAILED": "bold red",
    "CANCELLED": "grey50",
    "PENDING": "grey62",
    "DONE": "green",
}


def fmt_time(ms: int | None) -> str:
    if not ms:
        return "—"
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def fmt_duration(ms: int | None) -> str:
    if ms is None:
        return "—"
    s = round(ms / 1000)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "—"
    value, unit = float(n), "B"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            break
        value /= 1000
    return f"{value:.1f} {unit}" if unit != "B" and value < 10 else f"{value:.0f} {unit}"


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def request_of(row: dict[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(row.get("request") or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def jobs_table(rows: list[dict[str, Any]], total: int | None = None) -> Table:
    """The list call as a table: the original console's columns plus the job name."""
    caption = f"{len(rows)} of {total} jobs" if total is not None else None
    table = Table(caption=caption, header_style="bold", box=None, pad_edge=False)
    for col, kw in (
        ("created", {}),
        ("status", {}),
        ("job id", {"no_wrap": True}),
        ("name", {}),
        ("user", {}),
        ("run time", {"justify": "right"}),
        ("progress", {"justify": "right"}),
    ):
        table.add_column(col, **kw)
    for r in rows:
        table.add_row(
            fmt_time(r.get("start_time")),
            status_text(r["status"]),
            r["job_id"],
            r.get("name") or request_of(r).get("name") or "",
            r.get("owner", ""),
            fmt_duration(r.get("duration")),
            r.get("progress", ""),
        )
    return table


def samples_table(detail: dict[str, Any]) -> Table:
    table = Table(header_style="bold", box=None, pad_edge=False)
    for col, kw in (
        ("sample", {}),
        ("group", {}),
        ("state", {}),
        ("step", {}),
        ("progress", {"width": 22}),
        ("pairs", {"justify": "right"}),
        ("assigned", {"justify": "right"}),
        ("cache", {}),
        ("time", {"justify": "right"}),
    ):
        table.add_column(col, **kw)
    lt = request_of(detail).get("library_type")
    for s in detail.get("samples", []):
        stats = s.get("stats") or {}
        assigned = (stats.get("counts") or {}).get("assigned") or {}
        pairs_in = (stats.get("reads") or {}).get("pairs_in") or 0
        n = assigned.get(lt) if lt in assigned else max(assigned.values(), default=None)
        share = f"{100 * n / pairs_in:.1f}%" if n is not None and pairs_in else "—"
        table.add_row(
            s["sample_name"],
            s.get("group_name", ""),
            status_text(s.get("state", "")),
            s.get("step") or "—",
            ProgressBar(total=1.0, completed=float(s.get("fraction_done") or 0), width=20),
            f"{s.get('pairs_done') or pairs_in:,}",
            share,
            "reused" if s.get("from_cache") else "",
            fmt_duration(s.get("duration_ms")),
        )
    return table


def result_paths(detail: dict[str, Any], outputs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(label, URI) of what a person opens first: the table, the report, MultiQC."""
    stored = request_of(detail).get("output")
    if not stored:
        return []
    table_uri, folder = artifacts_folder(str(stored), detail["job_id"])
    have = {o["path"] for o in outputs}
    out = [("results table", table_uri)]
    for label, rel in (("report", "report.html"), ("MultiQC", "qc/multiqc_report.html")):
        if not outputs or rel in have:
            out.append((label, f"{folder}/{rel}"))
    out.append(("all outputs", f"{folder}/"))
    return out


def job_summary(detail: dict[str, Any], outputs: list[dict[str, Any]]) -> Group:
    """``jobs show``: the settings as lines, the samples as a table, the results' paths."""
    req = request_of(detail)
    head = Text.assemble(
        (req.get("name") or detail.get("name") or f"job {detail['job_id']}", "bold"),
        "  ",
        status_text(detail["status"]),
    )
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="grey50")
    facts.add_column()
    comparisons = req.get("comparisons") or [
        {"control": req["inputs"][0]["group_name"], "treatment": g["group_name"]}
        for g in (req.get("inputs") or [])[1:]
    ]
    rows: list[tuple[str, str]] = [
        ("job id", detail["job_id"]),
        ("owner", detail.get("owner", "")),
        ("submitted", fmt_time(detail.get("start_time"))),
        ("run time", fmt_duration(detail.get("duration"))),
        ("progress", f"{detail.get('progress')} steps"),
    ]
    if detail["status"] == "RUNNING":
        rows.append(("time left", fmt_duration(detail.get("remaining_ms"))))
    rows += [
        ("reference", f"{req.get('ref')} / {req.get('gtf')}"),
        ("library type", str(req.get("library_type") or "fr-unstranded")),
        ("adapter", req.get("adapt") or "none"),
        ("QC", f"yes (bed {req.get('bed')})" if req.get("is_export_qc") else "no"),
        ("comparisons", ", ".join(f"{c['treatment']} vs {c['control']}" for c in comparisons)),
        ("input", fmt_bytes(detail.get("input_size"))),
    ]
    for k, v in rows:
        facts.add_row(k, v)
    parts: list[Any] = [head, facts]
    if detail.get("message"):
        parts.append(Text(f"message: {detail['message']}", style="red"))
    notes = detail.get("notes") or [
        {"text": str(w), "plain": "", "level": "warning"} for w in detail.get("warnings") or []
    ]
    for n in notes:
        # the plain words first; the run's own words after them, for a search engine
        said = f"{n['plain']} ({n['text']})" if n.get("plain") else n["text"]
        if n.get("level") == "info":
            parts.append(Text(f"note: {said}", style="grey50"))
        else:
            parts.append(Text(f"warning: {said}", style="dark_orange"))
    parts += [Text(""), samples_table(detail)]
    if detail["status"] == "FINISHED":
        paths = Table.grid(padding=(0, 2))
        paths.add_column(style="grey50")
        paths.add_column()
        for label, uri in result_paths(detail, outputs):
            paths.add_row(label, uri)
        parts += [Text(""), paths]
    return Group(*parts)


class TimeLeft:
    """The time left as a person reads it: it counts down between polls and moves only part
    of the way to each new estimate, so a noisy 18, 27, 15, 8 s reads as a steady fall.

    The service's estimate is a fresh extrapolation at each poll (jobs/service.py);
    smoothing is the reader's concern, so it lives here and in the console.
    """

    def __init__(self, weight: float = 0.3) -> None:
        self.weight = weight
        self.value: float | None = None
        self.at = 0.0

    def update(self, estimate_ms: int | None, now_s: float) -> int | None:
        if estimate_ms is None:
            self.value = None
            return None
        if self.value is None:
            self.value = float(estimate_ms)
        else:
            counted = max(0.0, self.value - (now_s - self.at) * 1000)
            # a longer estimate is believed more slowly than a shorter one
            weight = self.weight if estimate_ms < counted else self.weight / 3
            self.value = counted + weight * (estimate_ms - counted)
        self.at = now_s
        return round(self.value)


def follow(
    client: Any, project: str, job_id: str, *, console: Console, poll_s: float = 1.0
) -> dict[str, Any]:
    """Show a job live (a line per sample and the time left) until it ends."""

    time_left = TimeLeft()

    def view(detail: dict[str, Any]) -> Group:
        eta = ""
        if detail["status"] == "RUNNING":
            left = time_left.update(detail.get("remaining_ms"), time.monotonic())
            eta = f" · {fmt_duration(left)} left" if left is not None else " · estimating time left"
        line = Text.assemble(
            f"job {job_id[:8]} ",
            status_text(detail["status"]),
            f"  {detail['progress']} steps · {fmt_duration(detail.get('duration'))}{eta}",
        )
        return Group(line, samples_table(detail))

    detail = client.show(project, job_id)
    with Live(view(detail), console=console, refresh_per_second=4, transient=False) as live:
        while not has_ended(detail["status"]):
            time.sleep(poll_s)
            detail = client.show(project, job_id)
            live.update(view(detail))
    return dict(detail)


def stats_table(stats: dict[str, Any]) -> Table:
    """``genejobs stats``: jobs per state and input size, a row per user (an administrator
    sees every user), then the project's total."""
    states = [s for s in STATUS_STYLE if s not in ("PENDING", "DONE")]
    table = Table(header_style="bold", box=None, pad_edge=False)
    table.add_column("user")
    for st in states:
        table.add_column(st.lower(), justify="right")
    table.add_column("input", justify="right")
    users = stats.get("users") or []
    for u in users:
        table.add_row(
            str(u.get("user_name", "")),
            *(f"{int(u.get(f'{st.lower()}_num', 0)):,}" for st in states),
            fmt_bytes(u.get("input_size")),
        )
    n_users = int(stats.get("total_user_num", 0))
    table.add_row(
        Text(f"all ({n_users} user{'s' if n_users != 1 else ''})", style="bold"),
        *(f"{int(stats.get(f'total_{st.lower()}_num', 0)):,}" for st in states),
        fmt_bytes(stats.get("total_input_size")),
        style="bold" if users else "",
    )
    return table
