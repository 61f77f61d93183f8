"""Helpers the test suites (e2e, integration, drills, proof) and the benchmarks share.

- ``processes``: free ports, waiting for a port or an HTTP answer, starting a process with its
  output in a log file, stopping it by its pid, the environment of a child process.
- ``servers``: gunicorn serving cbpconfig.wsgi, a redis-server of a test's own, a scratch
  PostgreSQL cluster.
- ``web``: one HTTP request, with urllib (status, headers, body) or with http.client (the
  failure kind in place of a status when the connection fails).
- ``load``: the bounded client load the fault drills run, and its figures.
- ``reports``: the end-of-run report the drills and the proof suite print and write.

Nothing here imports Django or pytest at module level, so bench/ can use it too.
"""
