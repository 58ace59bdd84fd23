# The operator image: slim, no torch, no Ray. Not built in CI (no Docker engine there):
# linted with hadolint by the tests.
# syntax=docker/dockerfile:1.7
FROM python:3.11.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
COPY serving ./serving
RUN pip install --no-cache-dir --upgrade pip==24.3.1 \
 && pip wheel --no-cache-dir --wheel-dir /wheels ".[operator]"

FROM python:3.11.11-slim-bookworm
LABEL org.opencontainers.image.title="fragrance-operator" \
      org.opencontainers.image.description="Metric-gated canary releases of a guarded LLM ensemble on GPUs"
RUN groupadd --system --gid 10001 fragrance \
 && useradd --system --uid 10001 --gid 10001 --no-create-home fragrance
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels "fragrance-ai-operator[operator]==0.1.0" \
 && rm -rf /wheels
USER 10001:10001
ENV PYTHONUNBUFFERED=1
EXPOSE 8080 8081
ENTRYPOINT ["fragrance"]
CMD ["operator", "--liveness=http://0.0.0.0:8081/healthz"]
