#!/usr/bin/env bash
# The monitoring backup (production; environments.yml says when and where).
#
#   backup-monitoring.sh --prometheus URL --data-dir DIR --output DIR [--alertmanager URL] [--keep-days N]
#
# 1. Asks Prometheus for a TSDB snapshot (POST /api/v1/admin/tsdb/snapshot; Prometheus must run
#    with --web.enable-admin-api) and packs <data-dir>/snapshots/<name> into
#    <output>/prometheus-<name>.tar.gz, then removes the snapshot directory.
# 2. With --alertmanager, saves the silences (GET /api/v2/silences) beside it.
# 3. Deletes archives in <output> older than --keep-days (default 30).
# Prints the path of the new Prometheus archive. Exits non-zero with one line on stderr when a
# step fails; nothing older is deleted then.
set -euo pipefail

prometheus="" data_dir="" output="" alertmanager="" keep_days=30
while [ $# -gt 0 ]; do
  case "$1" in
    --prometheus) prometheus="$2"; shift 2 ;;
    --data-dir) data_dir="$2"; shift 2 ;;
    --output) output="$2"; shift 2 ;;
    --alertmanager) alertmanager="$2"; shift 2 ;;
    --keep-days) keep_days="$2"; shift 2 ;;
    *) echo "backup-monitoring: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$prometheus" ] || [ -z "$data_dir" ] || [ -z "$output" ]; then
  echo "backup-monitoring: --prometheus, --data-dir and --output are required" >&2
  exit 2
fi
mkdir -p "$output"

answer=$(curl -fsS --max-time 120 -X POST "$prometheus/api/v1/admin/tsdb/snapshot") || {
  echo "backup-monitoring: the snapshot request failed (is --web.enable-admin-api set?)" >&2
  exit 1
}
name=$(printf '%s' "$answer" | sed -n 's/.*"name":"\([^"]*\)".*/\1/p')
if [ -z "$name" ] || [ ! -d "$data_dir/snapshots/$name" ]; then
  echo "backup-monitoring: no snapshot directory for answer $answer" >&2
  exit 1
fi
archive="$output/prometheus-$name.tar.gz"
tar -czf "$archive.part" -C "$data_dir/snapshots" "$name"
mv "$archive.part" "$archive"
rm -rf "${data_dir:?}/snapshots/$name"

if [ -n "$alertmanager" ]; then
  curl -fsS --max-time 30 "$alertmanager/api/v2/silences" >"$output/alertmanager-silences-$name.json.part" || {
    echo "backup-monitoring: could not read the Alertmanager's silences" >&2
    exit 1
  }
  mv "$output/alertmanager-silences-$name.json.part" "$output/alertmanager-silences-$name.json"
fi

find "$output" -maxdepth 1 -type f \( -name 'prometheus-*.tar.gz' -o -name 'alertmanager-silences-*.json' \) \
  -mtime "+$keep_days" -delete
echo "$archive"
