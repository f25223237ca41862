# Two entry points: `make demo` runs the default demo scenario end to end,
# `make test` runs the test suite. Both create .venv and install what they need.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

demo: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[torch,onnx]"
	$(BIN)/heiti run examples/digits/digits-fp32.yml examples/digits/digits-int8.yml \
	    --compare build/digits-comparison
	@echo "comparison report: build/digits-comparison/report.html"

test: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[all,dev]"
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest

bench: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[all,dev]"
	$(BIN)/python benchmarks/harness_overhead.py

clean:
	rm -rf build
