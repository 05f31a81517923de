# make serve  - set up and serve examples/wine-quality on http://127.0.0.1:8080 (HOST=0.0.0.0 to share;
#               MODELS="name=URI,..." serves many models by name instead)
# make test   - set up, lint (ruff) and run the whole test suite with its coverage gate
# make lint   - ruff check and ruff format --check
# make fuzz   - the generated-input tests at ten times their make-test size
# make bench  - ours vs mlflow models serve vs MLServer vs no-validation floors (bench/compare.py) and
#               where one request's time goes against the floor's (bench/request_parts.py), then
#               batch scoring against a pandas floor (bench/batch.py), missing values (bench/missing.py),
#               then a forest, boosting and a pipeline against MLServer and mlflow (bench/kinds.py),
#               then fifty models in one function under a memory budget (bench/many.py)
# Any of them with another interpreter: make test PYTHON=python3.12
PYTHON ?= python3
# one virtualenv per interpreter version: a venv made by one Python is never reused by another
PY_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
ifeq ($(PY_VERSION),)
PY_PROBLEM := $(shell $(PYTHON) -c 'import sys' 2>&1 | head -n 1)
$(error PYTHON=$(PYTHON) does not run ($(PY_PROBLEM)); name an installed Python 3.11 or later: python3 --version shows the default, and with pyenv PYENV_VERSION=3.12.1 make test runs 3.12 as python3)
endif
VENV ?= .venv/py$(PY_VERSION)
BIN := $(VENV)/bin
# the bench runs our function with the runtime requirements alone, as deployed
RUNTIME_VENV ?= .venv/runtime-py$(PY_VERSION)
# Seldon MLServer, the bench's other anchor, with bench/mlserver-requirements.txt
MLSERVER_VENV ?= .venv/mlserver-py$(PY_VERSION)
PORT ?= 8080
# make serve listens on this machine only unless told otherwise
HOST ?= 127.0.0.1
MODEL_URI ?= examples/wine-quality
# gunicorn threads as deploy.sh deploys them: one, or four with MODELS (a load, others answered)
THREADS ?= $(if $(MODELS),4,1)
# PRELOAD=1: load the model as the server starts (a bad MODEL_URI shows at once)
PRELOAD ?=

.PHONY: serve batch registry registry-train test lint fuzz bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

serve: $(VENV)/.runtime
	@echo "serving $(or $(MODELS),$(MODEL_URI)) at http://$(HOST):$(PORT)/ ($(if $(filter 1 true yes on,$(PRELOAD)),loading it now,$(if $(MODELS),each,it) loads on $(if $(MODELS),its,the) first request; PRELOAD=1 loads it at start); HOST=0.0.0.0 to share it)"
	MODEL_URI=$(if $(MODELS),,$(MODEL_URI)) MODELS="$(MODELS)" THREADS=$(THREADS) PRELOAD=$(PRELOAD) $(BIN)/functions-framework --target=predict --host=$(HOST) --port=$(PORT)

# the local loop of batch scoring: the GCS emulator, the upload, the storage event, the outputs
batch: $(VENV)/.dev
	@test -n "$(FILE)" || { echo "name the rows to score: make batch FILE=path/to/rows.csv (CSV with a header, or JSONL)" >&2; exit 2; }
	UNKNOWN_FEATURES=$(UNKNOWN_FEATURES) $(BIN)/python local/batch.py $(FILE) --model $(MODEL_URI)

# the registry loop: a local MLflow tracking server, the wine model trained, registered, @champion
REGISTRY_PORT ?= 5000
REGISTRY_STATE ?= .mlflow
ALPHA ?= 0.5
registry: $(VENV)/.dev
	$(BIN)/python local/registry.py --port $(REGISTRY_PORT) --alpha $(ALPHA) --state $(REGISTRY_STATE)

registry-train: $(VENV)/.dev
	$(BIN)/python local/registry.py --train-only --port $(REGISTRY_PORT) --alpha $(ALPHA)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

PYTEST := PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -n auto --dist loadfile --no-loadscope-reorder
# one pytest worker per core (pytest-xdist), each taking whole files, so a file's servers start once,
# the longest files first (tests/conftest.py);
# branch coverage of predictor/ (servers included) must reach pyproject.toml's fail_under, except
# when PYTEST_ARGS picks a subset; COVERAGE=0 runs the same tests unmeasured (a second
# interpreter's run: the measurement costs a third of the time, and more on 3.12)
COVERAGE ?= 1
test: lint
	$(PYTEST) $(if $(filter 0,$(COVERAGE)),-p no:cov,--cov --cov-report=term $(if $(PYTEST_ARGS),--cov-fail-under=0)) $(PYTEST_ARGS)

fuzz: $(VENV)/.dev
	FUZZ_EXAMPLES=30000 PROPERTY_EXAMPLES=5000 $(PYTEST) $(PYTEST_ARGS) \
	  tests/test_fuzz_bodies.py tests/test_fuzz_requests.py tests/test_fastpath.py

$(RUNTIME_VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(RUNTIME_VENV)
	$(RUNTIME_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(MLSERVER_VENV)/.mlserver: bench/mlserver-requirements.txt
	$(PYTHON) -m venv $(MLSERVER_VENV)
	$(MLSERVER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r bench/mlserver-requirements.txt
	touch $@

bench: $(VENV)/.dev $(RUNTIME_VENV)/.runtime $(MLSERVER_VENV)/.mlserver
	$(BIN)/python bench/compare.py --runtime $(RUNTIME_VENV) --mlserver $(MLSERVER_VENV) $(BENCH_ARGS)
	$(BIN)/python bench/request_parts.py
	$(BIN)/python bench/batch.py --python $(RUNTIME_VENV)/bin/python $(BATCH_BENCH_ARGS)
	$(BIN)/python bench/missing.py --python $(RUNTIME_VENV)/bin/python
	$(BIN)/python bench/kinds.py --runtime $(RUNTIME_VENV) --mlserver $(MLSERVER_VENV) $(KINDS_BENCH_ARGS)
	$(BIN)/python bench/many.py --runtime $(RUNTIME_VENV) $(MANY_BENCH_ARGS)

clean:
	rm -rf .venv .pytest_cache .coverage .coverage.*
