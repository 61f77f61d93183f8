"""Judge a pip-audit run (`make audit`, scripts/pip_audit.sh).

pip-audit exits 0 when it finds no known vulnerability, even when it could not look a single
package up: a dependency the vulnerability service does not know is "skipped" with a reason
("Dependency not found on PyPI and could not be audited"), and a run where every dependency is
skipped reports "No known vulnerabilities found". Such a run proves nothing, so this script
reads pip-audit's `--format json` report and:

- prints how many packages were actually checked, how many were skipped (and why), and every
  known vulnerability;
- exits 1 when a checked package has a known vulnerability (or pip-audit itself failed),
  and 3 when no package was checked at all (fewer than --min-checked).

`python scripts/pip_audit_check.py --probe` prints the vulnerability service to use: `osv` when
api.osv.dev answers, else `pypi` when PyPI's per-version JSON API answers (what pip-audit's
`pypi` service asks), else `snapshot`.

`python scripts/pip_audit_check.py --snapshot security/advisories.json` is the offline audit
for machines where neither answers: every installed distribution (`pip list --format json`,
or --installed FILE in that format) is checked against the committed snapshot of the PyPA
advisory database (scripts/advisories_snapshot.py writes it): names normalised per PEP 503,
versions compared with `packaging.version`, OSV ECOSYSTEM ranges (introduced / fixed /
last_affected) and explicit version lists. Same verdict and exit codes as above; a snapshot
older than --max-age-days (180) is a warning, not a failure, and the output says that
advisories published after its date are not covered.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

OSV_URL = "https://api.osv.dev/v1/query"
PYPI_URL = "https://pypi.org/pypi/{name}/json"
PYPI_VERSION_URL = "https://pypi.org/pypi/{name}/{version}/json"

EXIT_OK = 0
EXIT_VULNERABLE = 1
EXIT_CHECKED_NONE = 3

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "security" / "advisories.json"
MAX_AGE_DAYS = 180
NOT_IN_SNAPSHOT = "not in the advisory snapshot (refresh it with scripts/advisories_snapshot.py)"


@dataclass
class Summary:
    checked: list[str] = field(default_factory=list)  # "name==version"
    skipped: dict[str, str] = field(default_factory=dict)  # name -> reason
    vulnerable: dict[str, list[str]] = field(default_factory=dict)  # name==version -> ids
    # The offline audit: "<repository>@<commit>" and its date; None for a pip-audit report.
    source: str | None = None
    source_date: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.checked) + len(self.skipped)

    @property
    def known(self) -> int:
        return sum(len(ids) for ids in self.vulnerable.values())


def normalise(name: str) -> str:
    """A distribution name per PEP 503: runs of -, _ and . become -, lower case."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _fixes(fix_versions: object) -> str:
    if isinstance(fix_versions, list) and fix_versions:
        return f" (fixed in {', '.join(str(v) for v in fix_versions)})"
    return " (no fixed version known)" if isinstance(fix_versions, list) else ""


def summarise(report: dict) -> Summary:
    """Read pip-audit's JSON report: {"dependencies": [...], "fixes": [...]}, where each
    dependency is {"name", "version", "vulns": [{"id", ...}]} when it was checked and
    {"name", "skip_reason"} when it was not."""
    if not isinstance(report, dict) or not isinstance(report.get("dependencies"), list):
        raise ValueError("not a pip-audit JSON report (no `dependencies` list)")
    summary = Summary()
    for dep in report["dependencies"]:
        name = dep.get("name", "?")
        if "skip_reason" in dep:
            summary.skipped[name] = str(dep["skip_reason"])
            continue
        if "version" not in dep or not isinstance(dep.get("vulns"), list):
            summary.skipped[name] = "malformed entry (no version or vulns)"
            continue
        label = f"{name}=={dep['version']}"
        summary.checked.append(label)
        ids = [str(v.get("id", "?")) + _fixes(v.get("fix_versions")) for v in dep["vulns"]]
        if ids:
            summary.vulnerable[label] = ids
    return summary


def verdict(
    summary: Summary, *, pip_audit_status: int = 0, min_checked: int = 1
) -> tuple[int, str]:
    """(exit code, report text)."""
    counts = (
        f"({len(summary.skipped)} skipped, {len(summary.vulnerable)} with known vulnerabilities)"
    )
    if summary.source is None:
        lines = [f"pip-audit checked {len(summary.checked)} of {summary.total} packages {counts}"]
    else:
        lines = [
            f"checked {len(summary.checked)} of {summary.total} packages against "
            f"{summary.source} as of {summary.source_date}; {summary.known} known "
            f"vulnerabilities {counts}"
        ]
    lines += summary.warnings
    reasons = Counter(reason.split(":")[0] for reason in summary.skipped.values())
    for reason, count in reasons.most_common():
        lines.append(f"  skipped {count}: {reason}")
    for label, ids in sorted(summary.vulnerable.items()):
        lines.append(f"  VULNERABLE {label}: {', '.join(ids)}")
    if len(summary.checked) < min_checked:
        lines.append(
            f"FAIL: only {len(summary.checked)} package(s) checked (at least {min_checked} "
            "required): a run that checks nothing proves nothing"
        )
        return EXIT_CHECKED_NONE, "\n".join(lines)
    if summary.vulnerable:
        lines.append("FAIL: known vulnerabilities")
        return EXIT_VULNERABLE, "\n".join(lines)
    if pip_audit_status not in (0, 1):
        lines.append(f"FAIL: pip-audit exited {pip_audit_status}")
        return EXIT_VULNERABLE, "\n".join(lines)
    lines.append("OK: no known vulnerabilities in the packages checked")
    return EXIT_OK, "\n".join(lines)


# -- the offline audit against the advisory snapshot ---------------------------------------------


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def in_range(version: Version, events: Sequence[Mapping[str, str]]) -> bool:
    """Whether an OSV ECOSYSTEM range (its events: introduced / fixed / last_affected) includes
    the version, evaluated as the OSV schema says: walk the events in version order; the state
    after the last event at or below the version decides. An event whose version does not
    parse is an error, not a silent "not affected"."""
    ordered = []
    for event in events:
        ((kind, text),) = event.items()
        at = _version(text)  # "introduced": "0" is Version("0"), below every release
        if at is None:
            raise ValueError(f"range event {kind}={text!r} is not a PEP 440 version")
        ordered.append((at, kind))
    affected = False
    for at, kind in sorted(ordered, key=lambda pair: pair[0]):
        if kind == "introduced" and version >= at:
            affected = True
        elif (kind == "fixed" and version >= at) or (kind == "last_affected" and version > at):
            affected = False
    return affected


def affects(advisory: Mapping[str, Any], version: str) -> bool:
    """Whether a snapshot advisory ({"ranges": [[events]], "versions": [...]}) lists the
    version: in any of its ranges or in its explicit versions (compared as PEP 440 versions,
    so 1.0 == 1.0.0; as strings when one does not parse)."""
    parsed = _version(version)
    for listed in advisory.get("versions", []):
        other = _version(listed)
        if listed == version or (parsed is not None and other is not None and other == parsed):
            return True
    if parsed is None:
        return False
    return any(in_range(parsed, events) for events in advisory.get("ranges", []))


def fixed_versions(advisory: Mapping[str, Any], version: str) -> list[str]:
    """The `fixed` versions of the advisory's ranges that lie above the installed version."""
    parsed = _version(version)
    fixes = {
        event["fixed"]
        for events in advisory.get("ranges", [])
        for event in events
        if "fixed" in event
    }
    above = [f for f in fixes if parsed is None or (_version(f) or parsed) > parsed]
    return sorted(above, key=lambda f: _version(f) or Version("0"))


def load_snapshot(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError("not an advisory snapshot (not a JSON object)")
    source = data.get("source")
    if not isinstance(source, dict) or not {"repository", "commit", "date"} <= set(source):
        raise ValueError("not an advisory snapshot (no source repository, commit and date)")
    if not isinstance(data.get("packages"), dict):
        raise ValueError("not an advisory snapshot (no `packages` object)")
    return data


def snapshot_age_days(data: Mapping[str, Any], today: date | None = None) -> int:
    taken = datetime.fromisoformat(str(data["source"]["date"])).date()
    return ((today or datetime.now(UTC).date()) - taken).days


def audit_snapshot(
    installed: Iterable[Mapping[str, str]],
    data: Mapping[str, Any],
    *,
    today: date | None = None,
    max_age_days: int = MAX_AGE_DAYS,
) -> Summary:
    """Check installed distributions ({"name", "version"}, as `pip list --format json` gives
    them) against the snapshot: checked when the snapshot has an entry for the name (an empty
    one means "no advisory"), skipped when it has none or the version is not PEP 440."""
    source = data["source"]
    taken = str(source["date"])[:10]
    summary = Summary(source=f"{source['repository']}@{str(source['commit'])[:12]}")
    summary.source_date = taken
    age = snapshot_age_days(data, today)
    coverage = f"advisories published after {taken} are NOT covered by this check"
    if age > max_age_days:
        summary.warnings.append(
            f"WARNING: the advisory snapshot is {age} days old (over {max_age_days}): {coverage}; "
            "refresh it with scripts/advisories_snapshot.py"
        )
    else:
        summary.warnings.append(f"note: {coverage}")
    packages = data["packages"]
    for dist in sorted(installed, key=lambda d: normalise(d["name"])):
        name, version = normalise(dist["name"]), str(dist["version"])
        if name not in packages:
            summary.skipped[name] = NOT_IN_SNAPSHOT
            continue
        if _version(version) is None:
            summary.skipped[name] = f"version {version!r} is not PEP 440"
            continue
        label = f"{name}=={version}"
        summary.checked.append(label)
        hits = []
        for advisory in packages[name]:
            if affects(advisory, version):
                fixes = fixed_versions(advisory, version)
                hits.append(str(advisory["id"]) + _fixes(fixes))
        if hits:
            summary.vulnerable[label] = hits
    return summary


def installed_distributions(python: str = sys.executable) -> list[dict[str, str]]:
    """`pip list --format json` of the environment (editable installs left out, as pip-audit
    --skip-editable does)."""
    done = subprocess.run(
        [python, "-m", "pip", "list", "--format", "json", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return list(json.loads(done.stdout))


def judge_snapshot(
    snapshot: Path,
    installed: list[dict[str, str]] | None = None,
    *,
    min_checked: int = 1,
    max_age_days: int = MAX_AGE_DAYS,
    today: date | None = None,
) -> tuple[int, str]:
    try:
        data = load_snapshot(snapshot)
        dists = installed_distributions() if installed is None else installed
        summary = audit_snapshot(dists, data, today=today, max_age_days=max_age_days)
    except (OSError, ValueError, KeyError, subprocess.SubprocessError) as exc:
        return EXIT_CHECKED_NONE, f"FAIL: no usable advisory snapshot at {snapshot}: {exc}"
    return verdict(summary, min_checked=min_checked)


def judge_file(path: Path, *, pip_audit_status: int = 0, min_checked: int = 1) -> tuple[int, str]:
    try:
        report = json.loads(path.read_text())
        summary = summarise(report)
    except (OSError, ValueError) as exc:
        return EXIT_CHECKED_NONE, (
            f"FAIL: no usable pip-audit report at {path} (pip-audit exited "
            f"{pip_audit_status}): {exc}"
        )
    return verdict(summary, pip_audit_status=pip_audit_status, min_checked=min_checked)


def _answers(request: urllib.request.Request, timeout: float = 8) -> int | None:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return None


def probe() -> tuple[str, list[str]]:
    """The service to audit against and notes on what answered."""
    notes = []
    query = json.dumps({"package": {"name": "pip", "ecosystem": "PyPI"}, "version": "1.0"})
    osv = _answers(
        urllib.request.Request(
            OSV_URL, data=query.encode(), headers={"Content-Type": "application/json"}
        )
    )
    notes.append(f"OSV ({OSV_URL}): {osv or 'unreachable'}")
    if osv == 200:
        return "osv", notes
    pypi = _answers(urllib.request.Request(PYPI_URL.format(name="pip")))
    notes.append(f"PyPI JSON API ({PYPI_URL.format(name='pip')}): {pypi or 'unreachable'}")
    if pypi == 200:
        # pip-audit's PyPI service asks /pypi/<name>/<version>/json for each package.
        from importlib.metadata import version

        per_version = PYPI_VERSION_URL.format(name="pip", version=version("pip"))
        status = _answers(urllib.request.Request(per_version))
        notes.append(f"PyPI per-version JSON ({per_version}): {status or 'unreachable'}")
        if status == 200:
            return "pypi", notes
    notes.append(
        "neither OSV nor PyPI's per-version JSON answers here: the installed packages are "
        "checked against the committed advisory snapshot (security/advisories.json)"
    )
    return "snapshot", notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", nargs="?", type=Path, help="pip-audit --format json output")
    parser.add_argument("--probe", action="store_true", help="print the service to use")
    parser.add_argument("--pip-audit-status", type=int, default=0)
    parser.add_argument(
        "--snapshot",
        type=Path,
        nargs="?",
        const=SNAPSHOT,
        help=f"audit offline against an advisory snapshot (default {SNAPSHOT.relative_to(ROOT)})",
    )
    parser.add_argument(
        "--installed", type=Path, help="`pip list --format json` output (default: run it)"
    )
    parser.add_argument("--max-age-days", type=int, default=MAX_AGE_DAYS)
    parser.add_argument(
        "--min-checked", type=int, default=int(os.environ.get("AUDIT_MIN_CHECKED", "1"))
    )
    args = parser.parse_args(argv)
    if args.probe:
        service, notes = probe()
        for note in notes:
            print(note, file=sys.stderr)
        print(service)
        return EXIT_OK
    if args.snapshot is not None:
        installed = None if args.installed is None else json.loads(args.installed.read_text())
        code, text = judge_snapshot(
            args.snapshot, installed, min_checked=args.min_checked, max_age_days=args.max_age_days
        )
        print(text)
        return code
    if args.report is None:
        parser.error("a report path is required (or --probe, or --snapshot)")
    code, text = judge_file(
        args.report, pip_audit_status=args.pip_audit_status, min_checked=args.min_checked
    )
    print(text)
    return code


if __name__ == "__main__":
    sys.exit(main())
