# FracBNN Companion: two commands for a newcomer.
#   make reproduce   set up, then run notebooks 01->05 with papermill on the embedded default data set
#   make test        set up, then run the test suite (unit tests, notebooks under nbval, pipeline)
#   make test-fast   the tests that need no pipeline run (the inner loop: a few minutes)
# Override: make reproduce PARAMS=params/cifar10.yaml DATA=/data/cifar10 RUN=cifar10-full

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PARAMS ?= params/synthetic.yaml
DATA   ?=
RUN    ?=
STAMP  := $(VENV)/.installed

.PHONY: setup reproduce test test-fast notebooks lint clean

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

test-fast: setup
	$(PY) -m ruff check fracbnn_lib tests benchmarks notebooks conftest.py
	$(PY) -m pytest -q -m "not slow"

# Re-execute the committed notebooks in place from a clean embedded-default run (what nbval compares
# against), and ImageNet's notebook 04 after a clean imagenet-tiny run of 01-03; commit the result after
# a change that moves their outputs. No progress bars (TQDM_DISABLE), and each cell's stream output in one
# piece with carriage returns applied (CoalesceStreamsPreprocessor, after execution): nbclient would store
# every refresh of a bar as an output of its own (tests/test_notebooks.py checks the committed form).
EXECUTE := TQDM_DISABLE=1 $(PY) -m jupyter nbconvert --to notebook --execute --inplace \
	--ExecutePreprocessor.kernel_name=python3 --ExecutePreprocessor.timeout=900 \
	--NotebookExporter.preprocessors=nbconvert.preprocessors.CoalesceStreamsPreprocessor \
	--ClearMetadataPreprocessor.enabled=True --ClearMetadataPreprocessor.clear_notebook_metadata=False \
	--ClearMetadataPreprocessor.preserve_cell_metadata_mask=tags

notebooks: setup
	rm -rf runs/default data/synthetic runs/imagenet-tiny data/imagenet-tiny
	for nb in $(filter-out %_imagenet.ipynb,$(sort $(wildcard notebooks/0[1-5]_*.ipynb))); do $(EXECUTE) $$nb || exit 1; done
	$(PY) -m fracbnn_lib pipeline --params params/imagenet-tiny.yaml --only 01,02,03
	for nb in notebooks/0[1-5]_*_imagenet.ipynb; do $(EXECUTE) $$nb || exit 1; done

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check fracbnn_lib tests benchmarks notebooks conftest.py

clean:
	rm -rf runs build deploy .pytest_cache
