# DualStream for QGIS: `make help` lists the targets. Everything runs from the repository root.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.dualstream-installed
SYSTEM_PYTHON := $(shell command -v /usr/bin/python3 || command -v python3)
# Plugin destination for `make deploy`: <QGIS_PROFILES_DIR>/<PROFILE>/python/plugins/dualstream_qgis
PROFILE ?= default
QGIS_PROFILES_DIR ?= $(HOME)/.local/share/QGIS/QGIS3/profiles
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-x -k checkenv"`.
PYTEST_ARGS ?=
# Every test run ends with its slowest tests, so a test that grows slow is seen where it is made.
DURATIONS := --durations=15
# pytest-xdist workers for `make test` (auto: one per core; 0: one process). Whole modules go to one worker
# (loadscope), so a module's fixtures are built once.
TEST_WORKERS ?= auto
XDIST := -n $(TEST_WORKERS) --dist loadscope

.PHONY: help demo install deploy package test test-engine test-plugin test-qgis lint bench clean

help:
	@echo "make demo      install when needed, then train/segment/evaluate the sample through qgis_process -> demo_output/"
	@echo "make install   system packages (apt, when missing) + .venv with torch/transformers and the dualstream command (idempotent)"
	@echo "make deploy    install + enable the plugin in QGIS profile PROFILE=$(PROFILE) ($(QGIS_PROFILES_DIR))"
	@echo "make package   build dist/dualstream_qgis.zip (QGIS: Plugins > Install from ZIP) and check it against the plugin repository's rules"
	@echo "make test      install when needed, then the whole test suite (engine without qgis, then plugin)"
	@echo "make test-qgis the plugin tests in a newer Debian QGIS, in a chroot (root): SUITE=trixie (3.40) or sid (3.44)"
	@echo "make lint      ruff"
	@echo "make bench     benchmarks -> bench_output/results.json and results.md"

install: $(STAMP)

$(STAMP): pyproject.toml requirements.txt requirements-onnx.txt requirements-dev.txt scripts/install.sh
	bash scripts/install.sh
	touch $(STAMP)

deploy: install
	$(PY) scripts/deploy_plugin.py --profiles-dir "$(QGIS_PROFILES_DIR)" --profile "$(PROFILE)"

# The README's first command: deploys the plugin into a throwaway profile under demo_output/qgis, generates the
# sample, runs dualstream:train, dualstream:segment and dualstream:evaluate headless, writes a quicklook PNG.
demo: install
	$(PY) scripts/demo.py

# The zip, then the official plugin repository's checks on it (scripts/check_plugin_zip.py).
package:
	$(SYSTEM_PYTHON) scripts/assemble_plugin.py --zip dist/dualstream_qgis.zip
	$(SYSTEM_PYTHON) scripts/check_plugin_zip.py dist/dualstream_qgis.zip

# The engine tests (and the reliability suite's command-line cases) run in their own pytest process with
# `qgis` made unimportable (tests/conftest.py), which proves the engine never imports it; every other test
# folder runs in a second process. Both always run; any failure, including pytest's exit code 5 (no tests
# collected), fails the target. The reliability counts land in test_output/reliability.json. The reliability
# suite's workspace (inputs and two trained tiny bundles) is built once for both processes (and their workers) in
# a temporary folder.
ENGINE_TESTS := tests/engine tests/reliability/cli
test: install
	@status=0; \
	export DUALSTREAM_TEST_WORKSPACE=$$(mktemp -d -t dualstream-test-workspace-XXXXXX); \
	echo "== engine tests (qgis blocked) =="; \
	DUALSTREAM_BLOCK_QGIS=1 $(PY) -m pytest $(ENGINE_TESTS) $(XDIST) $(DURATIONS) $(PYTEST_ARGS) || status=$$?; \
	echo "== plugin and other tests (real QGIS) =="; \
	$(PY) -m pytest tests $(addprefix --ignore=,$(ENGINE_TESTS)) $(XDIST) $(DURATIONS) $(PYTEST_ARGS) || status=$$?; \
	rm -rf "$$DUALSTREAM_TEST_WORKSPACE"; \
	if [ $$status -ne 0 ]; then echo "make test: FAILED (pytest exit code $$status)" >&2; fi; \
	exit $$status

test-engine: install
	DUALSTREAM_BLOCK_QGIS=1 $(PY) -m pytest $(ENGINE_TESTS) $(XDIST) $(DURATIONS) $(PYTEST_ARGS)

test-plugin: install
	$(PY) -m pytest tests $(addprefix --ignore=,$(ENGINE_TESTS)) $(XDIST) $(DURATIONS) $(PYTEST_ARGS)

# Not part of `make test` or CI: builds (once) a Debian SUITE chroot in CHROOT_DIR, several GB from the network.
SUITE ?= trixie
CHROOT_DIR ?= /tmp/dualstream-qgis-$(SUITE)
test-qgis:
	scripts/qgis_debian_chroot.sh $(SUITE) $(CHROOT_DIR) $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check engine dualstream_qgis tests bench scripts

bench: install
	$(PY) bench/run.py

clean:
	rm -rf dist build bench_output .pytest_cache .ruff_cache
