# syntax=docker/dockerfile:1.7
# The project's two images, from one file:
#   docker build --target operator -t fragrance-operator .   (no torch, Ray or serving code)
#   docker build --target serving  -t fragrance-serving .    (Ray Serve, torch, the ensemble)
# BASE is any Debian-family image with python3 (>= 3.11) and its venv module. `make images`
# builds both targets with buildah on a Debian base it makes locally (no registry needed).
ARG BASE=python:3.11-slim-bookworm

# The project's wheels, and each target's third-party requirements: those are installed in
# a layer of their own, which a change to the project's code does not rebuild.
FROM ${BASE} AS wheels
ARG REQUIREMENTS="import sys, tomllib; print(*(d for f in sys.argv[1:] for d in tomllib.load(open(f, 'rb'))['project']['dependencies'] if not d.startswith('fragrance-')), sep=chr(10))"
WORKDIR /src
COPY api ./api
COPY operator ./operator
COPY serving ./serving
RUN --mount=type=cache,target=/root/.cache/pip \
    python3 -m venv /opt/build \
 && /opt/build/bin/pip wheel --no-deps --wheel-dir /wheels ./api ./operator ./serving \
 && mkdir /requirements \
 && python3 -c "$REQUIREMENTS" api/pyproject.toml operator/pyproject.toml > /requirements/operator.txt \
 && python3 -c "$REQUIREMENTS" api/pyproject.toml serving/pyproject.toml > /requirements/serving.txt

# One unprivileged user and one venv for both images; the venv's bin leads PATH.
FROM ${BASE} AS runtime
RUN groupadd --system --gid 10001 fragrance \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/fragrance --create-home fragrance \
 && python3 -m venv /opt/fragrance
ENV PATH=/opt/fragrance/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

FROM runtime AS operator
LABEL org.opencontainers.image.title="fragrance-operator" \
      org.opencontainers.image.description="Metric-gated canary releases of a guarded LLM ensemble on GPUs"
COPY --from=wheels /requirements/operator.txt /tmp/requirements.txt
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --requirement /tmp/requirements.txt
COPY --from=wheels /wheels /tmp/wheels
RUN pip install --no-cache-dir --no-index --find-links=/tmp/wheels "fragrance-operator==0.1.0" \
 && rm -rf /tmp/wheels
USER 10001:10001
EXPOSE 8080 8081
ENTRYPOINT ["fragrance"]
CMD ["operator", "--liveness=http://0.0.0.0:8081/healthz"]

# torch from PyPI carries its CUDA libraries (the nvidia-* wheels): the same image runs on a
# GPU node (driver from the node) and on CPU.
FROM runtime AS serving
LABEL org.opencontainers.image.title="fragrance-serving" \
      org.opencontainers.image.description="The guarded LLM ensemble and its PPO worker on Ray Serve"
COPY --from=wheels /requirements/serving.txt /tmp/requirements.txt
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --requirement /tmp/requirements.txt
COPY --from=wheels /wheels /tmp/wheels
RUN pip install --no-cache-dir --no-index --find-links=/tmp/wheels "fragrance-serving==0.1.0" \
 && rm -rf /tmp/wheels
# KubeRay probes a Ray pod with `bash -c 'wget ... | grep success'`: as a RayService's head
# or worker this image needs wget. Unpinned: the version is the BASE's Debian release's.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install --yes --no-install-recommends wget \
 && rm -rf /var/lib/apt/lists/*
# The operator mounts the app's config, the live TuningPolicy and the weights (/models).
ENV FRAGRANCE_POLICY_FILE=/etc/fragrance/policy/policy.json
USER 10001:10001
EXPOSE 8000 8265
ENTRYPOINT ["fragrance-serve"]
CMD ["--config", "/etc/fragrance/app/app.yaml", "--host", "0.0.0.0"]
