#!/usr/bin/env bash
# make audit: known vulnerabilities in the installed dependencies (the project's .venv), with
# pip-audit (pinned in requirements-dev.txt).
#
# The vulnerability service is OSV when api.osv.dev answers, else PyPI's per-version JSON API
# (`--vulnerability-service pypi`); pip-audit's JSON report goes to var/pip-audit.json and
# scripts/pip_audit_check.py judges it: it prints how many packages were actually checked and
# exits non-zero when none was (pip-audit itself says "No known vulnerabilities found" and
# exits 0 when every package was skipped as not found), or when a checked package has a known
# vulnerability.
#
# When neither answers (the build machines: OSV unreachable, PyPI's per-version JSON 404), the
# audit is offline (`snapshot`): scripts/pip_audit_check.py --snapshot checks every installed
# distribution against security/advisories.json, the committed snapshot of the PyPA advisory
# database (refreshed by scripts/advisories_snapshot.py), with the same verdict; advisories
# published after the snapshot's date are not seen, and the output says so.
# AUDIT_SERVICE=osv|pypi|snapshot forces one.
set -uo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON_BIN:-.venv/bin/python}"
OUT="${AUDIT_OUTPUT:-var/pip-audit.json}"
mkdir -p "$(dirname "$OUT")"
rm -f "$OUT"

started=$(date +%s)
service="${AUDIT_SERVICE:-}"
if [ -z "$service" ]; then
  service="$("$PY" scripts/pip_audit_check.py --probe)" || exit 2
fi
echo "audit: vulnerability service $service" >&2

if [ "$service" = snapshot ]; then
  "$PY" scripts/pip_audit_check.py --snapshot "${AUDIT_SNAPSHOT:-security/advisories.json}"
  verdict=$?
  echo "audit: took $(( $(date +%s) - started ))s" >&2
  exit "$verdict"
fi

"$PY" -m pip_audit \
  --vulnerability-service "$service" \
  --format json --output "$OUT" \
  --progress-spinner off --skip-editable --timeout 15
status=$?

"$PY" scripts/pip_audit_check.py "$OUT" --pip-audit-status "$status"
verdict=$?
echo "audit: took $(( $(date +%s) - started ))s" >&2
exit "$verdict"
