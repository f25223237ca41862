# Two entry points: `make demo` runs the default demo scenario end to end,
# `make test` runs the test suite. Both create .venv and install what they need, at the
# versions the suite passed with (constraints.txt; `make lock` refreshes it).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIN    := -c constraints.txt

.PHONY: demo test bench lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

demo: $(BIN)/python
	$(BIN)/pip install --quiet $(PIN) -e ".[torch,onnx]"
	$(BIN)/heiti run examples/digits/digits-fp32.yml examples/digits/digits-int8.yml \
	    --compare build/digits-comparison
	@echo "comparison report: build/digits-comparison/report.html"

test: $(BIN)/python
	bash .ci/system-packages
	$(BIN)/pip install --quiet $(PIN) -e ".[all,dev]"
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest

bench: $(BIN)/python
	$(BIN)/pip install --quiet $(PIN) -e ".[all,dev]"
	$(BIN)/python benchmarks/harness_overhead.py

# the newest versions pyproject.toml allows, pinned; run `make test` before committing them
lock: $(BIN)/python
	$(BIN)/pip install --quiet --upgrade --upgrade-strategy eager -e ".[all,dev]"
	$(BIN)/python .ci/lock.py

clean:
	rm -rf build
