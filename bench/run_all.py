"""Run every benchmark one after another and print their figures (`make bench`).

In-process micro benchmarks first, then the HTTP ones (gunicorn, 2 sync workers, wrk), each
of which also measures the baseline (a DRF view doing one Redis GET) in the same run.
Figures are printed, never asserted; run on a quiet machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    "bench_businessdays_inprocess.py",
    "bench_scheduling_inprocess.py",
    "bench_overlap.py",
    "bench_lean_path.py",
    "bench_calendars_http.py",
    "bench_windows_http.py",
    "bench_configuration_http.py",
    "bench_flags_http.py",
    "bench_platform.py",  # platform-sized data set, mixed load and writes (minutes)
]

if __name__ == "__main__":
    failed = []
    for name in SCRIPTS:
        print(f"\n===== {name} =====", flush=True)
        if subprocess.run(
            [sys.executable, str(HERE / name)], cwd=HERE.parent, check=False
        ).returncode:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
        sys.exit(1)
