# syntax=docker/dockerfile:1
# Multi-stage build: wheels are built in the first stage, the runtime image has no compilers,
# runs as a non-root user, serves with gunicorn and reports health on /live.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt .
RUN pip wheel --wheel-dir /wheels -r requirements.txt

FROM python:3.11-slim-bookworm AS runtime
# The release every log line, audit entry and metric names (docker build --build-arg
# CBP_RELEASE=$(git rev-parse --short HEAD)).
ARG CBP_RELEASE=unknown
ENV CBP_RELEASE=${CBP_RELEASE} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=cbpconfig.settings \
    CBP_ENVIRONMENT=production \
    PROMETHEUS_MULTIPROC_DIR=/tmp/cbp-metrics \
    GUNICORN_BIND=0.0.0.0:8000
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 cbp \
    && useradd --system --uid 10001 --gid cbp --home /app --shell /usr/sbin/nologin cbp
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links=/wheels /wheels/* && rm -rf /wheels
COPY --chown=cbp:cbp . /app
# Static files for the admin and the API docs (served by the ingress or whitenoise-less CDN-free path).
RUN SECRET_KEY=build-only-not-secret-build-only-not-secret CBP_ENVIRONMENT=development \
    python manage.py collectstatic --noinput -v0 && mkdir -p /app/var/backups && chown -R cbp:cbp /app/var
USER cbp
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8000/live || exit 1
# Runs on a read-only root filesystem (deploy/kubernetes/deployment.yaml) given writable /tmp,
# /dev/shm (gunicorn's worker heartbeat files: memory, never a disk that can stall) and
# PROMETHEUS_MULTIPROC_DIR; the Deployment's command is this one, word for word.
CMD ["gunicorn", "-c", "cbpconfig/gunicorn.conf.py", "--worker-tmp-dir", "/dev/shm", "cbpconfig.wsgi:application"]
