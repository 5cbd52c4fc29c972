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

.PHONY: demo test lint browser clean

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check $(TORCH)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[offline,dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/digitlab train --recipe quickstart $(DATA_OPT)

test: $(STAMP) browser
	$(PY) -m pytest -q

# The real-browser test drives Debian's Chromium. Install it when we can (root + apt-get); otherwise that
# test skips and says why. Never fatal: the rest of the suite does not need a browser.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
	      || echo "note: could not install chromium; the browser test will skip"; \
	  else echo "note: chromium not installed (needs root + apt-get); the browser test will skip"; fi; }

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench

clean:
	rm -rf $(VENV) build dist src/*.egg-info
