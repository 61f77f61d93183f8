"""The end-of-run report of the drills and of the proof suite: printed in a section of pytest's
terminal summary and written to a file under var/."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_report(terminalreporter: Any, title: str, text: str, directory: Path) -> None:
    """Print ``text`` in a terminal-summary section ``title`` and write it to
    ``directory/report.txt`` (the directory is made when missing)."""
    terminalreporter.section(title)
    terminalreporter.write_line(text)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.txt").write_text(text + "\n")
