"""Refresh security/advisories.json: the offline advisory snapshot that `make audit` checks the
installed packages against when no vulnerability service answers (scripts/pip_audit_check.py).

    python scripts/advisories_snapshot.py PATH [--output security/advisories.json]

PATH is a git checkout, or a bare clone, of the PyPA advisory database
(https://github.com/pypa/advisory-database: OSV YAML, one file per advisory under
vulns/<package>/). Its HEAD is read through git, so the snapshot names exactly one commit.

Kept: every advisory (not withdrawn) whose `affected` entry names, in the PyPI ecosystem, a
package pinned in requirements.txt / requirements-dev.txt or installed in the environment of
--python (`pip list --format json`); for each, the OSV id, aliases, a one-line summary, the
ECOSYSTEM ranges (events introduced / fixed / last_affected) and the explicit versions. Every
such package gets an entry, an empty list when it has no advisory: it was looked up and is
clean as of the snapshot, not unknown. The local PATH is not recorded, only the repository's
public name, the commit id and its date.

The database is licensed CC-BY 4.0; the attribution goes into the data file (security/README.md
says it too).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from pip_audit_check import (  # scripts/ is sys.path[0] when run as a script
    installed_distributions,
    normalise,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "security" / "advisories.json"
REQUIREMENTS = ("requirements.txt", "requirements-dev.txt")
REPOSITORY = "pypa/advisory-database"
ATTRIBUTION = {
    "license": "CC-BY-4.0",
    "license_url": "https://creativecommons.org/licenses/by/4.0/",
    "notice": (
        "Advisory data from the Python Packaging Advisory Database "
        "(https://github.com/pypa/advisory-database), (c) its contributors, licensed under "
        "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/). Changed: reduced to the "
        "advisories of this project's packages and, of each, to its id, aliases, a one-line "
        "summary, affected ranges and versions (scripts/advisories_snapshot.py)."
    ),
}
RANGE_EVENTS = ("introduced", "fixed", "last_affected")
SUMMARY_CHARS = 200

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def requirement_names(path: Path, seen: set[Path] | None = None) -> set[str]:
    """Normalised names pinned in a requirements file, following `-r other.txt`."""
    seen = set() if seen is None else seen
    path = path.resolve()
    if path in seen:
        return set()
    seen.add(path)
    names: set[str] = set()
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(("-r ", "--requirement ")):
            names |= requirement_names(path.parent / line.split(None, 1)[1].strip(), seen)
            continue
        if line.startswith("-"):
            continue
        match = _REQUIREMENT.match(line)
        if match:
            names.add(normalise(match.group(1)))
    return names


def installed_names(python: str) -> set[str]:
    return {normalise(dist["name"]) for dist in installed_distributions(python)}


def _git(repo: Path, *args: str, data: bytes | None = None) -> bytes:
    return subprocess.run(
        ["git", "-C", str(repo), *args], input=data, capture_output=True, check=True, timeout=300
    ).stdout


def advisory_files(repo: Path) -> list[tuple[str, bytes]]:
    """(path, content) of every vulns/**/*.yaml at HEAD, read in one `git cat-file --batch`."""
    listing = _git(repo, "ls-tree", "-r", "HEAD", "--", "vulns").decode().splitlines()
    blobs = []
    for line in listing:
        meta, path = line.split("\t", 1)
        _mode, kind, sha = meta.split()
        if kind == "blob" and path.endswith((".yaml", ".yml")):
            blobs.append((path, sha))
    out = _git(repo, "cat-file", "--batch", data="".join(f"{s}\n" for _, s in blobs).encode())
    files, at = [], 0
    for path, sha in blobs:
        end = out.index(b"\n", at)
        got, _kind, size = out[at:end].decode().split()
        assert got == sha, (got, sha)
        files.append((path, out[end + 1 : end + 1 + int(size)]))
        at = end + 1 + int(size) + 1
    return files


def summary_of(advisory: dict[str, Any]) -> str:
    text = str(advisory.get("summary") or advisory.get("details") or "").strip()
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1].rstrip() + "…"


def reduce(advisory: dict[str, Any], wanted: set[str]) -> dict[str, dict[str, Any]]:
    """{normalised package name: compact entry} for the wanted packages the advisory affects."""
    found: dict[str, dict[str, Any]] = {}
    for affected in advisory.get("affected") or []:
        package = affected.get("package") or {}
        if package.get("ecosystem") != "PyPI" or not package.get("name"):
            continue
        name = normalise(package["name"])
        if name not in wanted:
            continue
        entry = found.setdefault(
            name,
            {
                "id": str(advisory["id"]),
                "aliases": sorted(str(a) for a in advisory.get("aliases") or []),
                "summary": summary_of(advisory),
                "ranges": [],
                "versions": [],
            },
        )
        for range_ in affected.get("ranges") or []:
            if range_.get("type") != "ECOSYSTEM":
                continue  # GIT ranges name commits, not releases
            events = [
                {key: str(event[key])}
                for event in range_.get("events") or []
                for key in RANGE_EVENTS
                if key in event
            ]
            if events:
                entry["ranges"].append(events)
        for version in affected.get("versions") or []:
            if str(version) not in entry["versions"]:
                entry["versions"].append(str(version))
    return found


def snapshot(repo: Path, wanted: set[str], *, repository: str = REPOSITORY) -> dict[str, Any]:
    commit = _git(repo, "rev-parse", "HEAD").decode().strip()
    date = _git(repo, "log", "-1", "--format=%cI", "HEAD").decode().strip()
    packages: dict[str, list[dict[str, Any]]] = {name: [] for name in sorted(wanted)}
    files = advisory_files(repo)
    withdrawn = 0
    for path, content in files:
        advisory = yaml.load(content, Loader=_Loader)  # noqa: S506 — SafeLoader / CSafeLoader
        if not isinstance(advisory, dict) or "id" not in advisory:
            raise ValueError(f"{path}: not an OSV advisory")
        if advisory.get("withdrawn"):
            withdrawn += 1
            continue
        for name, entry in reduce(advisory, wanted).items():
            packages[name].append(entry)
    for entries in packages.values():
        entries.sort(key=lambda e: e["id"])
    return {
        "source": {
            "repository": repository,
            "url": f"https://github.com/{repository}",
            "commit": commit,
            "date": date,
            "advisories_read": len(files),
            "withdrawn_skipped": withdrawn,
        },
        "attribution": ATTRIBUTION,
        "generated_by": "scripts/advisories_snapshot.py",
        "packages": packages,
    }


def dump(data: dict[str, Any]) -> str:
    """Compact but diff-friendly: one line per advisory."""
    head = {k: v for k, v in data.items() if k != "packages"}
    lines = ["{"]
    for key, value in head.items():
        lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},")
    lines.append('  "packages": {')
    names = list(data["packages"])
    for i, name in enumerate(names):
        entries = data["packages"][name]
        comma = "," if i < len(names) - 1 else ""
        if not entries:
            lines.append(f"    {json.dumps(name)}: []{comma}")
            continue
        lines.append(f"    {json.dumps(name)}: [")
        for j, entry in enumerate(entries):
            sep = "," if j < len(entries) - 1 else ""
            text = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
            lines.append(f"      {text}{sep}")
        lines.append(f"    ]{comma}")
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database", type=Path, help="advisory-database checkout or bare repo")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--python",
        default=str(ROOT / ".venv" / "bin" / "python"),
        help="the environment whose installed packages are covered too (default: .venv)",
    )
    parser.add_argument("--repository", default=REPOSITORY, help="public name of the database")
    args = parser.parse_args(argv)
    wanted: set[str] = set()
    for name in REQUIREMENTS:
        wanted |= requirement_names(ROOT / name)
    wanted |= installed_names(args.python)
    data = snapshot(args.database, wanted, repository=args.repository)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(dump(data))
    json.loads(args.output.read_text())  # still valid JSON
    count = sum(len(entries) for entries in data["packages"].values())
    affected = sum(1 for entries in data["packages"].values() if entries)
    print(
        f"{args.output}: {len(data['packages'])} packages ({affected} with advisories), "
        f"{count} advisories from {data['source']['repository']}@{data['source']['commit'][:12]} "
        f"({data['source']['date']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
