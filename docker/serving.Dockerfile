# The serving image: Ray Serve, torch with CUDA, the guarded ensemble and the PPO worker.
# The base is the Ray project's CUDA image (its Python, CUDA and NCCL pinned together).
# Not built in CI (no Docker engine there): linted with hadolint by the tests.
# syntax=docker/dockerfile:1.7
FROM rayproject/ray:2.52.0-py311-cu128 AS build
WORKDIR /src
COPY --chown=ray:users api ./api
COPY --chown=ray:users serving ./serving
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /tmp/wheels ./api ./serving

FROM rayproject/ray:2.52.0-py311-cu128
COPY --from=build /tmp/wheels /tmp/wheels
RUN pip install --no-cache-dir --find-links=/tmp/wheels "fragrance-serving==0.1.0" \
 && rm -rf /tmp/wheels
# Trained weights are mounted (or baked by a later stage): /models, as the app's modelsDir.
ENV FRAGRANCE_POLICY_FILE=/etc/fragrance/policy/policy.json \
    PYTHONUNBUFFERED=1
USER 1000:100
EXPOSE 8000 8265
CMD ["fragrance-serve", "--config", "/etc/fragrance/app.yaml", "--host", "0.0.0.0"]
