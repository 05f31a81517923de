# make serve  - set up and serve examples/wine-quality on http://localhost:8080
# make test   - set up and run the whole test suite
# make bench  - ours vs mlflow models serve vs a no-validation floor (bench/compare.py)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# the bench runs our function with the runtime requirements alone, as deployed
RUNTIME_VENV ?= .venv-runtime
PORT ?= 8080
MODEL_URI ?= examples/wine-quality
# one gunicorn thread, as deploy.sh deploys it
THREADS ?= 1

.PHONY: serve test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

serve: $(VENV)/.runtime
	MODEL_URI=$(MODEL_URI) THREADS=$(THREADS) $(BIN)/functions-framework --target=predict --port=$(PORT)

# one pytest worker per core (pytest-xdist), each taking whole files, so a file's servers start once
test: $(VENV)/.dev
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -n auto --dist loadfile $(PYTEST_ARGS)

$(RUNTIME_VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(RUNTIME_VENV)
	$(RUNTIME_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

bench: $(VENV)/.dev $(RUNTIME_VENV)/.runtime
	$(BIN)/python bench/compare.py --runtime $(RUNTIME_VENV) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(RUNTIME_VENV) .pytest_cache
