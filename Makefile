# Raylane — the two commands: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint down bench clean constraints console

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# llama.cpp is compiled for a portable x86-64 baseline (AVX2/FMA): a build tuned to the build
# machine's CPU (-march=native) uses AMX kernels that crash on VMs that do not enable AMX.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

# torch first: the CPU build on disk; an unpinned torch would pull a multi-GB CUDA build.
# constraints.txt pins every other dependency, so two installs get the same versions.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -q -c constraints.txt llama-cpp-python==0.3.36
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# Re-pin after a dependency change in pyproject.toml: install, then freeze what resolved.
constraints: install
	{ sed -n '/^#/p' constraints.txt; $(BIN)/pip freeze --exclude-editable \
	  | grep -viE '^(torch|llama[-_]cpp[-_]python|raylane)=='; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

# Tools the tests run as separate programs, in their own venv (their pins clash with ours).
TOOLS := $(VENV)/tools
$(TOOLS)/.installed: configs/tools-requirements.txt | $(BIN)/python
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q -r configs/tools-requirements.txt
	touch $@

# The web console (console/, TypeScript + Preact + Vite) is built into the package, where the API
# serves it at /console. Rebuilt only when its sources change; Node 20 and npm are on the machine.
CONSOLE_DIST := raylane/serve/console_dist
CONSOLE_SRC := $(shell find console/src -type f 2>/dev/null) console/index.html \
  console/package.json console/package-lock.json console/tsconfig.json console/vite.config.ts
$(CONSOLE_DIST)/.built: $(CONSOLE_SRC)
	cd console && npm ci --no-audit --no-fund --loglevel=error && npm run build
	touch $@

console: $(CONSOLE_DIST)/.built

install: $(STAMP) $(TOOLS)/.installed $(CONSOLE_DIST)/.built

run: install
	$(BIN)/raylane up

down: install
	$(BIN)/raylane down

test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 1; fi; exit $$rc

lint: install
	$(BIN)/ruff check raylane tests bench
	$(BIN)/ruff format --check raylane tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .raylane console/node_modules $(CONSOLE_DIST)
