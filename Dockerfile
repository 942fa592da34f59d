# syntax=docker/dockerfile:1
#
# The production image: the Compax server on Postgres (COMPAX_DATABASE_URL; run
# `compax server migrate` once before starting servers), or on the embedded SQLite default.
#
#   docker build -t compax .
#   docker run -p 8080:8080 -v compax-data:/data compax
#
# One container runs COMPAX_WORKERS processes (default 1); several containers behind nginx
# share Postgres and Redis: see docker-compose.yml and docs/deploy.md.
#
# Both stages use the same base image: the venv built in the first one links to its Python.

FROM python:3.11-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src

# The dependencies alone first, read from pyproject.toml: this layer is rebuilt only when
# they change, not on every change of the code. Wheels only: every dependency ships them,
# so no compiler is needed here, and a new one that does not fails loudly at this step.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && pip install --only-binary=:all: -r requirements.txt

# Then the project as a wheel (hatchling needs the README and the four packages to build it),
# installed with its dependencies, which are all in place already.
COPY README.md ./
COPY compax_server ./compax_server
COPY sync ./sync
COPY compax_cli ./compax_cli
COPY compax_tui ./compax_tui
RUN pip wheel --no-deps --wheel-dir /dist . \
    && pip install /dist/compax-*.whl


FROM python:3.11-slim-bookworm

# A fixed uid and gid, so that a mounted /data can be given to the same numbers on the host.
RUN groupadd --system --gid 10001 compax \
    && useradd --system --uid 10001 --gid compax --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin compax \
    && mkdir /data \
    && chown compax:compax /data

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    COMPAX_DATA_DIR=/data \
    COMPAX_HOST=0.0.0.0 \
    COMPAX_PORT=8080 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# Numeric, so that runtimes checking runAsNonRoot (Kubernetes) can tell it is not root.
USER 10001:10001
WORKDIR /data
EXPOSE 8080
VOLUME /data

# No curl in the image: Python's urllib fails (non-zero exit) on a refused connection or on
# any answer other than 2xx, and /health answers 503 when the database does not. With
# COMPAX_CERTFILE set the server speaks HTTPS; the check then skips verifying the certificate,
# whose name is not 127.0.0.1.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, ssl, urllib.request; tls = bool(os.environ.get('COMPAX_CERTFILE')); urllib.request.urlopen(('https' if tls else 'http') + '://127.0.0.1:' + os.environ.get('COMPAX_PORT', '8080') + '/health', timeout=4, context=ssl._create_unverified_context() if tls else None)"]

# SIGTERM (docker stop) stops the server gracefully: requests in flight finish within
# COMPAX_SHUTDOWN_TIMEOUT_SECONDS; give `docker stop -t` (or stop_grace_period) more than that.
STOPSIGNAL SIGTERM
CMD ["compax", "server", "run"]
