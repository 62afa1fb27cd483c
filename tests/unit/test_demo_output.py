"""What ``genejobs demo`` prints for a person: with ``--keep``, the lines that point the
CLI at the running service, on stdout alone (so ``eval "$(genejobs demo --keep)"`` works)."""

from __future__ import annotations

import subprocess

from genejobs.demo import _say_keep, export_lines


def test_keep_prints_the_export_lines_on_stdout(capsys):
    assert _say_keep(
        True, "http://h/console#token=t", 11, 12, url="http://127.0.0.1:9", token="gj_a"
    )
    out = capsys.readouterr()
    assert out.out == "export GENEJOBS_URL=http://127.0.0.1:9\nexport GENEJOBS_TOKEN=gj_a\n"
    assert "console:" in out.err and "kill -- -11" in out.err


def test_without_keep_nothing_is_exported(capsys):
    assert not _say_keep(False, "http://h/console", 11, 12, url="http://h", token="gj_a")
    assert capsys.readouterr().out == ""


def test_the_lines_are_safe_for_a_shell():
    lines = export_lines("http://h:1", "gj_a'b")
    done = subprocess.run(
        ["sh", "-c", f'{lines}\nprintf %s "$GENEJOBS_TOKEN"'], capture_output=True, text=True
    )
    assert done.stdout == "gj_a'b"
