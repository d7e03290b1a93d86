# FracBNN Companion: two commands for a newcomer.
#   make reproduce   set up, then run notebooks 01->05 with papermill on the embedded default data set
#   make test        set up, then run the test suite (unit tests, notebooks under nbval, pipeline)
# Override: make reproduce PARAMS=params/cifar10.yaml DATA=/data/cifar10 RUN=cifar10-full

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PARAMS ?= params/synthetic.yaml
DATA   ?=
RUN    ?=
STAMP  := $(VENV)/.installed

.PHONY: setup reproduce test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e '.[test,notebooks,hls]'
	touch $(STAMP)

setup: $(STAMP)

reproduce: setup
	$(PY) -m fracbnn_lib pipeline --params $(PARAMS) $(if $(DATA),--data-dir $(DATA)) $(if $(RUN),--run-name $(RUN))

test: setup
	$(PY) -m ruff check fracbnn_lib tests benchmarks notebooks conftest.py
	$(PY) -m pytest -q

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check fracbnn_lib tests benchmarks notebooks conftest.py

clean:
	rm -rf runs build deploy .pytest_cache
