"""The README stays a reference: every environment variable the code reads is in its
configuration table, and the tree does not narrate how it was built."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What the product reads: the settings' typed helpers, os.environ and getenv.
READ = re.compile(
    r"""(?:\benv_(?:str|bool|int|float|list|key)\(|os\.environ\.get\(|os\.getenv\(|getenv\(|os\.environ\[)\s*["']([A-Z][A-Z0-9_]*)["']"""
)
PROCFILE_VARIABLE = re.compile(r"\$\{?([A-Z][A-Z0-9_]*)")
TABLE_NAME = re.compile(r"`([A-Z][A-Z0-9_]+)`")
# Set for the process, not configuration.
NOT_SETTINGS = {"DJANGO_SETTINGS_MODULE"}
WORK_LOG = re.compile(r"\bsessions? [0-9]+|\ba review found\b|\bissue [0-9]+, bug\b", re.IGNORECASE)


def variables_read(root: Path = ROOT) -> set[str]:
    names: set[str] = set()
    for package in ("assist", "triage"):
        for path in (root / package).rglob("*.py"):
            names.update(READ.findall(path.read_text(encoding="utf-8")))
    procfile = root / "Procfile"
    if procfile.exists():
        names.update(PROCFILE_VARIABLE.findall(procfile.read_text(encoding="utf-8")))
    return names - NOT_SETTINGS


def configuration_table(readme: str) -> set[str]:
    """The variable names in the README's "Configuration" section."""
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(TABLE_NAME.findall(line.split("|")[1]))
    return names


def test_the_scanner_finds_the_variables_the_settings_read() -> None:
    found = variables_read()
    assert {"ASSIST_QUEUE_PAGE_SIZE", "DATABASE_POOL_TIMEOUT", "DJANGO_HSTS_PRELOAD", "MODEL_SIGNING_KEY"} <= found
    assert "ASSIST_HOST" in found  # the Procfile's


def test_a_variable_missing_from_the_table_is_reported() -> None:
    readme = (
        "# Assist\n\n## Configuration\n\n| Variable | Default |\n| --- | --- |\n"
        "| `LOG_LEVEL` | INFO |\n\n## Next\n`TIME_ZONE`\n"
    )
    assert configuration_table(readme) == {"LOG_LEVEL"}
    assert {"LOG_LEVEL", "TIME_ZONE"} - configuration_table(readme) == {"TIME_ZONE"}


def test_every_environment_variable_the_code_reads_is_in_the_readme_table() -> None:
    documented = configuration_table((ROOT / "README.md").read_text(encoding="utf-8"))
    missing = sorted(variables_read() - documented)
    assert not missing, f"add these to README.md's Configuration table: {missing}"


def test_the_readme_stays_a_short_reference() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) < 250


def test_no_file_narrates_numbered_work_sessions_or_reviews() -> None:
    suffixes = {".py", ".md", ".html", ".js", ".css", ".txt", ".toml", ".cfg"}
    skipped = {".venv", "node_modules", ".git", "var", "static/vendor"}
    found = []
    for path in ROOT.rglob("*"):
        relative = path.relative_to(ROOT).as_posix()
        if path.suffix not in suffixes or not path.is_file() or path == Path(__file__):
            continue
        if any(relative == s or relative.startswith(s + "/") for s in skipped):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if WORK_LOG.search(line):
                found.append(f"{relative}:{number}: {line.strip()[:80]}")
    assert not found, "\n".join(found)
