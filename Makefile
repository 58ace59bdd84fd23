# The two commands that matter: `make demo` (the local demo) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEV := $(VENV)/bin/fragrance-dev
PYTEST_ARGS ?=

.PHONY: help install tools models images serve samples crds cluster cluster-down cluster-status demo demo-cluster lint typecheck test bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

PACKAGES := api operator serving dev
$(VENV)/.installed: $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# The one distribution the project was before it had four.
	$(PY) -m pip uninstall --quiet --yes fragrance-ai-operator 2>/dev/null || true
	$(PY) -m pip install --quiet -e ./api -e ./operator -e ./serving -e './dev[test]'
	touch $@

install: $(VENV)/.installed  ## create .venv with the project and its dev tools

MODELS := models/fast.pt models/balanced.pt models/creative.pt
models: $(MODELS)  ## train the ensemble's three small torch models (minutes on 2 cores)
# Order-only on the venv: a reinstall must not retrain (7 minutes); a change to the models does.
$(MODELS) &: $(wildcard serving/fragrance_serving/models/*.py) | $(VENV)/.installed
	$(PY) -m fragrance_serving.models.train --out models

images: install  ## build the operator and serving images from the Dockerfile (buildah; cached) and load them into the real node
	$(DEV) images

serve: models  ## run the guarded ensemble on a local Ray Serve at :8000
	$(VENV)/bin/fragrance-serve --config deploy/serving/local.yaml --port 8000

tools: install  ## build the control plane's binaries from pinned Go modules (cached)
	$(DEV) cluster build

crds: install  ## regenerate crds/ from the API models
	$(DEV) crds --out crds

cluster: install  ## start the local control plane in the background (builds what is missing)
	$(DEV) cluster up

cluster-down: install  ## stop the local control plane; no process is left behind
	$(DEV) cluster down

cluster-status: install  ## print the running control plane's details
	$(DEV) cluster status

KUBECTL := .cluster/bin/kubectl

demo: tools models  ## the local demo: a full canary of the guarded ensemble, v2 promoted, faulty v3 rolled back
	$(DEV) demo --models models --out demo-out

demo-cluster: tools models  ## the product as a cluster runs it: the chart's operator pods, serving pods from the images, a client through the Gateway
	$(DEV) demo-cluster --models models --out demo-cluster-out

samples: cluster  ## apply the sample resources to the local control plane; show a bad one refused
	@$(KUBECTL) apply -f deploy/samples/
	@$(KUBECTL) get fragrance
	@echo "--- a bad edit, refused with the field and the reason"
	@! $(KUBECTL) apply -f tests/manifests/invalid/frel-steps-not-increasing.yaml

lint: install  ## ruff, mypy, import layering, CRDs in sync
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(DEV) crds --check --out crds

typecheck: install
	$(VENV)/bin/mypy

# pytest exits 5 when it collected nothing: a failure for the full suite (discovery is broken),
# but fine when PYTEST_ARGS selected a subset that happens to be empty on this machine.
test: lint tools models images  ## lint, then every test (unit, control plane, Prometheus, Ray, real pods, the demo e2e)
	@set +e; $(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then \
	  if [ -n "$(PYTEST_ARGS)" ]; then echo "pytest: no tests selected by '$(PYTEST_ARGS)'"; exit 0; fi; \
	  echo "pytest collected no tests: test discovery is broken"; exit 1; \
	fi; exit $$rc

bench: tools models  ## benchmarks: control plane, gate latency, guard overhead, serving on Ray, real-node pods
	$(PY) bench/control_plane.py
	$(PY) bench/gate.py
	$(PY) bench/guard_overhead.py
	$(PY) -W ignore bench/serving.py
	$(PY) -W ignore bench/ray_promotion.py
	$(PY) bench/real_node.py

clean: cluster-down
	rm -rf .pytest_cache .mypy_cache .ruff_cache
