# The operator image: slim, the operator and its API only (no serving, Ray, torch or dev
# tools). Not built in CI (no Docker engine there): linted with hadolint by the tests.
# syntax=docker/dockerfile:1.7
FROM python:3.11.11-slim-bookworm AS build
WORKDIR /src
COPY api ./api
COPY operator ./operator
RUN pip install --no-cache-dir --upgrade pip==24.3.1 \
 && pip wheel --no-cache-dir --wheel-dir /wheels ./api ./operator

FROM python:3.11.11-slim-bookworm
LABEL org.opencontainers.image.title="fragrance-operator" \
      org.opencontainers.image.description="Metric-gated canary releases of a guarded LLM ensemble on GPUs"
RUN groupadd --system --gid 10001 fragrance \
 && useradd --system --uid 10001 --gid 10001 --no-create-home fragrance
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels "fragrance-operator==0.1.0" \
 && rm -rf /wheels
USER 10001:10001
ENV PYTHONUNBUFFERED=1
EXPOSE 8080 8081
ENTRYPOINT ["fragrance"]
CMD ["operator", "--liveness=http://0.0.0.0:8081/healthz"]
