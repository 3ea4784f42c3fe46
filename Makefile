# `make demo` and `make test` do all set-up themselves: a .venv with the pinned requirements.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# --no-compile: modules are compiled when first imported; pulumi-aws alone ships thousands never imported here.
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed
SOAK_ORDERS ?= 2000

.PHONY: install install-runtime test lint typecheck preflight pytest demo bench calibrate soak mutate clean

$(RUNTIME): requirements.txt pyproject.toml
	@echo "installing the runtime requirements into $(VENV) (Pulumi SDK and AWS provider, boto3, moto, Powertools, awslambdaric: a few hundred MB, one to three minutes the first time)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements.txt
	$(PIP) --no-deps -e .
	touch $@

$(DEV): $(RUNTIME) requirements-dev.txt
	@echo "installing the checkers into $(VENV) (pytest, ruff, mypy, actionlint, pulumi-policy, the AWS CLI: about a minute)"
	$(PIP) -r requirements-dev.txt
	touch $@

install-runtime: $(RUNTIME)

install: $(DEV)

demo: $(RUNTIME)
	$(BIN)/orderctl demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/actionlint .github/workflows/*.yml

typecheck: install
	$(BIN)/mypy

# Every shipped stack passes the Pulumi CLI's config rules and the program's own (docs/config.md).
preflight: install-runtime
	for file in Pulumi.*.yaml; do stack=$${file#Pulumi.}; $(BIN)/orderctl preflight --stack $${stack%.yaml} >/dev/null || exit 1; done

pytest: install
	$(BIN)/pytest

test: lint typecheck preflight pytest

bench: install
	$(BIN)/python -m bench

# The capacity model against the sandbox (docs/benchmarks.md); exits 1 while a figure misses 25%.
calibrate: install
	$(BIN)/python -m bench calibration

soak: install
	$(BIN)/python -m tests.soak --orders $(SOAK_ORDERS)

mutate: install
	$(BIN)/python -m tools.mutate

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .sandbox .bench
