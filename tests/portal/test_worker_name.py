"""The background worker has one name wherever a person reads about it (README, docs, pages,
the Makefile's messages): `manage.py worker`. The queue's own `db_worker` and "task worker"
appear only where `manage.py worker` is named beside them, to say what it is built on."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OTHER_NAMES = re.compile(r"db_worker|task worker|rundb|run_worker", re.IGNORECASE)


def _texts() -> list[Path]:
    return [
        ROOT / "README.md",
        ROOT / "Makefile",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "templates").rglob("*.html")),
    ]


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs; a table row or a Makefile line is one of its own."""
    found = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.splitlines()
        if any(line.startswith(("|", "\t", "#")) for line in lines):
            found += lines
        else:
            found.append(" ".join(lines))
    return found


def test_every_other_name_of_the_worker_is_beside_manage_py_worker():
    strays = [
        f"{path.relative_to(ROOT)}: {paragraph.strip()[:120]}"
        for path in _texts()
        for paragraph in _paragraphs(path.read_text())
        if OTHER_NAMES.search(paragraph) and "manage.py worker" not in paragraph
    ]
    assert not strays, "\n".join(strays)


def test_the_readme_says_how_to_run_on_another_port_and_make_run_honours_it():
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "`make run PORT=8001`" in quick_start
    # What `make run PORT=8001` would do, without doing it: it serves on that port.
    planned = subprocess.run(
        ["make", "-n", "run", "PORT=8001"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert re.search(r"127\.0\.0\.1:8001\b", planned), planned
    assert "8000" not in planned, planned
