"""The offline audit of `make audit` (scripts/pip_audit_check.py --snapshot) and its data,
security/advisories.json (written by scripts/advisories_snapshot.py from the PyPA advisory
database).

The advisories and ranges below are read from the committed snapshot, not written here: the
expected verdicts follow from the database's own data (its explicit version lists are an
independent oracle for its ranges). Only the shapes the snapshot does not contain (a
`last_affected` event, several ranges, a version list without ranges) are built by hand, each
modelled on a real advisory.

Fast: no Django, no network; one `pip list` and one `git` run in a temporary directory.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
SNAPSHOT_FILE = ROOT / "security" / "advisories.json"


def _load(name: str):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


check = _load("pip_audit_check")
snapshot_tool = _load("advisories_snapshot")
DATA = json.loads(SNAPSHOT_FILE.read_text())
TAKEN = datetime.fromisoformat(DATA["source"]["date"]).date()


def advisory(package: str, ident: str) -> dict:
    (found,) = [a for a in DATA["packages"][package] if a["id"] == ident]
    return found


def audit(installed, *, today: date | None = None, data=DATA):
    return check.audit_snapshot(installed, data, today=today or TAKEN)


# -- range matching -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "affected"),
    [
        ("0.1", True),  # introduced "0": everything before the fix
        ("65.5.0", True),
        ("65.5.0.post1", True),
        ("65.5.1rc1", True),  # a pre-release of the fix comes before the fix (PEP 440)
        ("65.5.1", False),  # fixed is exclusive
        ("65.5.1.post1", False),
        ("84.2.1", False),
    ],
)
def test_introduced_and_fixed(version, affected):
    # setuptools before 65.5.1: ReDoS in package_index (CVE-2022-40897).
    real = advisory("setuptools", "PYSEC-2022-43012")
    assert real["ranges"] == [[{"introduced": "0"}, {"fixed": "65.5.1"}]]
    assert check.in_range(Version(version), real["ranges"][0]) is affected


@pytest.mark.parametrize(
    ("version", "affected"),
    [
        ("4.1.13", False),  # before the first `introduced`
        ("4.2", True),
        ("4.2.13", True),
        ("4.2.14", False),  # the 4.2 series' fix
        ("4.2.99", False),  # between a fix and the next `introduced`
        ("5.0", True),
        ("5.0.6", True),
        ("5.0.7", False),
        ("5.1", False),
    ],
)
def test_several_introduced_fixed_pairs_in_any_order(version, affected):
    # The database lists the 5.0 pair before the 4.2 pair; the events are sorted first.
    real = advisory("django", "PYSEC-2024-58")
    assert real["ranges"] == [
        [{"introduced": "5.0"}, {"fixed": "5.0.7"}, {"introduced": "4.2"}, {"fixed": "4.2.14"}]
    ]
    assert check.affects(real, version) is affected


def test_a_fix_that_is_a_pre_release():
    # PyYAML 5.1 up to (not including) 5.2b1: full_load arbitrary code execution.
    real = advisory("pyyaml", "PYSEC-2020-176")
    assert real["ranges"] == [[{"introduced": "5.1"}, {"fixed": "5.2b1"}]]
    assert check.affects(real, "5.1.2")
    assert check.affects(real, "5.2a1")
    assert not check.affects(real, "5.2b1")
    assert not check.affects(real, "5.2")
    assert not check.affects(real, "5.1rc1")  # before `introduced`, and not listed


def test_explicit_versions_count_even_outside_the_ranges():
    # The database lists 4.2rc1 as affected, though PEP 440 puts it before `introduced: 4.2`:
    # OSV says a version is affected when it is in a range OR in `versions`.
    real = advisory("django", "PYSEC-2023-61")
    assert "4.2rc1" in real["versions"]
    assert not any(check.in_range(Version("4.2rc1"), events) for events in real["ranges"])
    assert check.affects(real, "4.2rc1")
    assert check.affects(real, "4.2.0")  # listed as "4.2"... and 4.2.0 == 4.2 under PEP 440
    assert not check.affects(real, "4.2.1")


def test_every_explicit_version_of_the_snapshot_agrees_with_its_ranges():
    """The database's explicit version lists, an independent oracle: each listed version is
    inside the advisory's ranges, except pre-releases before an `introduced` (above)."""
    outside, listed = [], 0
    for package, advisories in DATA["packages"].items():
        for entry in advisories:
            for version in entry["versions"]:
                listed += 1
                assert check.affects(entry, version), (package, entry["id"], version)
                if entry["ranges"] and not any(
                    check.in_range(Version(version), events) for events in entry["ranges"]
                ):
                    outside.append((package, entry["id"], version))
    assert listed > 1000
    assert all(Version(version).is_prerelease for _, _, version in outside), outside


def test_last_affected_is_inclusive():
    # Shape of PYSEC-2022-42969 (py, ReDoS): introduced "0", last_affected "1.11.0"; the only
    # `last_affected` in the database, for a package this project does not install.
    entry = {
        "id": "PYSEC-2022-42969",
        "ranges": [[{"introduced": "0"}, {"last_affected": "1.11.0"}]],
    }
    assert check.affects(entry, "1.10.0")
    assert check.affects(entry, "1.11.0")
    assert check.affects(entry, "1.11.0rc1")
    assert not check.affects(entry, "1.11.0.post1")
    assert not check.affects(entry, "1.11.1")
    assert check.fixed_versions(entry, "1.11.0") == []


def test_several_ranges_and_a_versions_only_advisory():
    entry = {
        "id": "X",
        "ranges": [
            [{"introduced": "1.0"}, {"fixed": "1.4"}],
            [{"introduced": "2.0"}, {"fixed": "2.1.3"}],
        ],
        "versions": ["3.0.0"],
    }
    assert [check.affects(entry, v) for v in ("0.9", "1.3", "1.4", "2.1", "2.1.3", "3.0")] == [
        False,
        True,
        False,
        True,
        False,
        True,
    ]
    assert check.fixed_versions(entry, "1.3") == ["1.4", "2.1.3"]
    assert check.fixed_versions(entry, "2.1") == ["2.1.3"]
    assert not check.affects({"id": "Y", "versions": ["1.0"]}, "1.0.1")


def test_an_unparsable_range_version_is_an_error_not_a_pass():
    with pytest.raises(ValueError, match="not a PEP 440 version"):
        check.in_range(Version("1.0"), [{"introduced": "0"}, {"fixed": "not-a-version!"}])


@pytest.mark.parametrize(
    ("installed_as", "snapshot_name"),
    [("PyYAML", "pyyaml"), ("Django", "django"), ("markdown_it.py", "markdown-it-py")],
)
def test_names_are_compared_per_pep_503(installed_as, snapshot_name):
    assert check.normalise(installed_as) == snapshot_name
    summary = audit([{"name": installed_as, "version": "0.0.1"}])
    assert summary.checked == [f"{snapshot_name}==0.0.1"]
    assert summary.vulnerable  # every one of them had advisories for 0.0.1


# -- the verdict ----------------------------------------------------------------------------


def fake_install(tmp_path: Path, name: str, version: str) -> list[dict]:
    """A real (if empty) installed distribution, listed by pip itself."""
    dist = tmp_path / "site" / f"{name}-{version}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "list", "--path", str(tmp_path / "site"), "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / "pip_audit_check.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_vulnerable_install_is_reported_and_fails(tmp_path):
    installed = fake_install(tmp_path, "Django", "4.2")
    assert installed == [{"name": "Django", "version": "4.2"}]
    listing = tmp_path / "installed.json"
    listing.write_text(json.dumps(installed))
    done = run_cli("--snapshot", str(SNAPSHOT_FILE), "--installed", str(listing))
    assert done.returncode == check.EXIT_VULNERABLE, done.stdout + done.stderr
    # The oracle: every Django advisory whose own version list names 4.2.
    expected = {a["id"] for a in DATA["packages"]["django"] if "4.2" in a["versions"]}
    assert len(expected) > 5
    (line,) = [ln for ln in done.stdout.splitlines() if "VULNERABLE django==4.2:" in ln]
    for ident in expected:
        assert ident in line
    assert "PYSEC-2024-58 (fixed in 4.2.14, 5.0.7)" in line
    assert "checked 1 of 1 packages against pypa/advisory-database@" in done.stdout
    assert f"as of {TAKEN.isoformat()}; " in done.stdout
    assert "FAIL: known vulnerabilities" in done.stdout


def test_clean_versions_pass_and_a_package_without_advisories_is_checked():
    installed = [
        {"name": "Django", "version": "5.2.19"},
        {"name": "setuptools", "version": "65.5.1"},
        {"name": "asgiref", "version": "3.11.0"},  # in the snapshot, no advisory
    ]
    assert DATA["packages"]["asgiref"] == []
    code, text = check.verdict(audit(installed))
    assert code == check.EXIT_OK, text
    assert "checked 3 of 3 packages against" in text
    assert "; 0 known vulnerabilities (0 skipped" in text


def test_nothing_checked_is_a_failure(tmp_path):
    unknown = [{"name": "not-in-the-snapshot", "version": "1.0"}]
    code, text = check.verdict(audit(unknown))
    assert code == check.EXIT_CHECKED_NONE
    assert "checked 0 of 1 packages" in text
    assert "skipped 1: not in the advisory snapshot (refresh it with scripts/" in text
    assert check.verdict(audit([]))[0] == check.EXIT_CHECKED_NONE
    listing = tmp_path / "none.json"
    listing.write_text("[]")
    done = run_cli("--snapshot", str(SNAPSHOT_FILE), "--installed", str(listing))
    assert done.returncode == check.EXIT_CHECKED_NONE, done.stdout


def test_a_missing_or_broken_snapshot_fails(tmp_path):
    broken = tmp_path / "advisories.json"
    broken.write_text('{"packages": {}}')
    for path in (broken, tmp_path / "absent.json"):
        code, text = check.judge_snapshot(path, [{"name": "django", "version": "5.2.19"}])
        assert code == check.EXIT_CHECKED_NONE
        assert text.startswith("FAIL: no usable advisory snapshot")


def test_an_old_snapshot_warns_and_says_what_is_not_covered():
    clean = [{"name": "django", "version": "5.2.19"}]
    fresh = check.verdict(audit(clean, today=TAKEN + timedelta(days=180)))
    stale = check.verdict(audit(clean, today=TAKEN + timedelta(days=181)))
    assert fresh[0] == stale[0] == check.EXIT_OK
    assert "WARNING" not in fresh[1]
    assert f"advisories published after {TAKEN} are NOT covered" in fresh[1]
    (warning,) = [ln for ln in stale[1].splitlines() if ln.startswith("WARNING")]
    assert "181 days old" in warning
    assert f"advisories published after {TAKEN} are NOT covered" in warning


def test_unparsable_installed_version_is_skipped_not_checked():
    summary = audit([{"name": "django", "version": "not a version"}])
    assert summary.checked == []
    assert "not PEP 440" in summary.skipped["django"]


# -- the data file --------------------------------------------------------------------------


def test_the_snapshot_loads_and_covers_every_pinned_requirement():
    data = check.load_snapshot(SNAPSHOT_FILE)
    source = data["source"]
    assert source["repository"] == "pypa/advisory-database"
    assert len(source["commit"]) == 40
    datetime.fromisoformat(source["date"])
    assert "CC BY 4.0" in data["attribution"]["notice"]
    pinned = set()
    for name in snapshot_tool.REQUIREMENTS:
        pinned |= snapshot_tool.requirement_names(ROOT / name)
    assert {"django", "psycopg", "pip-audit", "pyyaml", "google-re2"} <= pinned
    missing = pinned - set(data["packages"])
    assert not missing, (
        f"refresh security/advisories.json (scripts/advisories_snapshot.py): {missing}"
    )
    # Pinned packages with no advisory are still entries (checked, clean), not absent.
    assert data["packages"]["django-waffle"] == []
    for entries in data["packages"].values():
        for entry in entries:
            assert set(entry) == {"id", "aliases", "summary", "ranges", "versions"}


def test_the_snapshot_names_no_local_path():
    text = SNAPSHOT_FILE.read_text()
    assert ROOT.as_posix() not in text  # this checkout
    # nor a home or workspace of any machine (advisories themselves mention /tmp/)
    assert re.search(r"/(home|root|work)/", text) is None
    assert ".mirror" not in text


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_DATE": "2024-01-02T03:04:05+00:00"}
    env |= {"GIT_COMMITTER_DATE": env["GIT_AUTHOR_DATE"]}
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
        env=env,
        timeout=60,
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_snapshot_tool_extracts_from_a_bare_repository(tmp_path):
    work = tmp_path / "work"
    (work / "vulns" / "django").mkdir(parents=True)
    (work / "vulns" / "other").mkdir()
    (work / "vulns" / "django" / "PYSEC-2099-1.yaml").write_text(
        "id: PYSEC-2099-1\n"
        "details: Django before 5.2.99 does a bad thing. More text.\n"
        "aliases: [CVE-2099-1]\n"
        "affected:\n"
        "- package: {name: Django, ecosystem: PyPI}\n"
        "  ranges:\n"
        "  - type: GIT\n"
        "    repo: https://example.invalid/django\n"
        "    events: [{introduced: '0'}, {fixed: abc123}]\n"
        "  - type: ECOSYSTEM\n"
        "    events: [{introduced: '0'}, {fixed: '5.2.99'}]\n"
        "  versions: ['5.2.19']\n"
        "- package: {name: other, ecosystem: PyPI}\n"
        "  versions: ['1.0']\n"
    )
    (work / "vulns" / "django" / "PYSEC-2099-2.yaml").write_text(
        "id: PYSEC-2099-2\nwithdrawn: '2099-01-01T00:00:00Z'\nsummary: withdrawn\n"
        "affected:\n- package: {name: django, ecosystem: PyPI}\n  versions: ['5.2.19']\n"
    )
    _git(work, "init", "-q")
    _git(work, "add", ".")
    _git(work, "commit", "-q", "-m", "advisories")
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True, timeout=60)
    data = snapshot_tool.snapshot(bare, {"django", "requests"})
    assert data["source"]["repository"] == "pypa/advisory-database"
    assert data["source"]["date"] == "2024-01-02T03:04:05+00:00"
    assert data["source"]["withdrawn_skipped"] == 1
    assert data["packages"] == {
        "django": [
            {
                "id": "PYSEC-2099-1",
                "aliases": ["CVE-2099-1"],
                "summary": "Django before 5.2.99 does a bad thing. More text.",
                "ranges": [[{"introduced": "0"}, {"fixed": "5.2.99"}]],
                "versions": ["5.2.19"],
            }
        ],
        "requests": [],
    }
    dumped = snapshot_tool.dump(data)
    assert json.loads(dumped) == data
    assert str(tmp_path) not in dumped
    assert snapshot_tool.snapshot(work, {"django"})["source"] == data["source"]
    summary = check.audit_snapshot(
        [{"name": "Django", "version": "5.2.19"}], data, today=date(2024, 1, 3)
    )
    assert summary.vulnerable == {"django==5.2.19": ["PYSEC-2099-1 (fixed in 5.2.99)"]}
