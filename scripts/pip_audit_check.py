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
api.osv.dev answers, else `pypi` when PyPI's JSON API answers (exit 2 when neither does).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

OSV_URL = "https://api.osv.dev/v1/query"
PYPI_URL = "https://pypi.org/pypi/{name}/json"
PYPI_VERSION_URL = "https://pypi.org/pypi/{name}/{version}/json"

EXIT_OK = 0
EXIT_VULNERABLE = 1
EXIT_NO_SERVICE = 2
EXIT_CHECKED_NONE = 3


@dataclass
class Summary:
    checked: list[str] = field(default_factory=list)  # "name==version"
    skipped: dict[str, str] = field(default_factory=dict)  # name -> reason
    vulnerable: dict[str, list[str]] = field(default_factory=dict)  # name==version -> ids

    @property
    def total(self) -> int:
        return len(self.checked) + len(self.skipped)


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
        ids = [str(v.get("id", "?")) for v in dep["vulns"]]
        if ids:
            summary.vulnerable[label] = ids
    return summary


def verdict(
    summary: Summary, *, pip_audit_status: int = 0, min_checked: int = 1
) -> tuple[int, str]:
    """(exit code, report text)."""
    lines = [
        f"pip-audit checked {len(summary.checked)} of {summary.total} packages "
        f"({len(summary.skipped)} skipped, {len(summary.vulnerable)} with known vulnerabilities)"
    ]
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


def probe() -> tuple[str | None, list[str]]:
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
    if pypi != 200:
        return None, notes
    # pip-audit's PyPI service asks /pypi/<name>/<version>/json for each package.
    from importlib.metadata import version

    per_version = PYPI_VERSION_URL.format(name="pip", version=version("pip"))
    status = _answers(urllib.request.Request(per_version))
    notes.append(f"PyPI per-version JSON ({per_version}): {status or 'unreachable'}")
    if status != 200:
        notes.append(
            "warning: the per-version PyPI JSON API does not answer here, so pip-audit's "
            "`pypi` service will not be able to look packages up"
        )
    return "pypi", notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", nargs="?", type=Path, help="pip-audit --format json output")
    parser.add_argument("--probe", action="store_true", help="print the service to use")
    parser.add_argument("--pip-audit-status", type=int, default=0)
    parser.add_argument(
        "--min-checked", type=int, default=int(os.environ.get("AUDIT_MIN_CHECKED", "1"))
    )
    args = parser.parse_args(argv)
    if args.probe:
        service, notes = probe()
        for note in notes:
            print(note, file=sys.stderr)
        if service is None:
            print("FAIL: no vulnerability service is reachable", file=sys.stderr)
            return EXIT_NO_SERVICE
        print(service)
        return EXIT_OK
    if args.report is None:
        parser.error("a report path is required (or --probe)")
    code, text = judge_file(
        args.report, pip_audit_status=args.pip_audit_status, min_checked=args.min_checked
    )
    print(text)
    return code


if __name__ == "__main__":
    sys.exit(main())
