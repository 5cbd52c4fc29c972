# The README's two commands. Both set up .venv on their own (idempotent: a stamp file
# records that the install matching pyproject.toml is complete), then do their job.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.digitlab-installed
# The dev/CI install pins torch to the CPU wheel on local disk; users get their own build via torch>=2.2.
TORCH  := torch==2.13.0
# Use the shared MNIST copy beside the checkout when there is one; otherwise digitlab finds or fetches data.
DATA_DIR ?= $(firstword $(wildcard ../shared/data/mnist))
DATA_OPT := $(if $(DATA_DIR),--data-dir $(DATA_DIR),)

.PHONY: demo test lint bench-loader clean

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check $(TORCH)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[offline,dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/digitlab train --recipe quickstart $(DATA_OPT)

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench

clean:
	rm -rf $(VENV) build dist src/*.egg-info
