# adpipe developer entry points. Every target that needs the Python tools (sam, cfn-lint,
# cargo-lambda + zig, moto_server) creates .venv first (scripts/venv.sh, idempotent) and
# runs with .venv/bin on PATH.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV_BIN := $(CURDIR)/.venv/bin
export PATH := $(VENV_BIN):$(PATH)
export SAM_CLI_TELEMETRY ?= 0

# Architecture of `make build` (x86_64 here; the deployed default is the template's arm64).
ARCH ?= x86_64
# samconfig.toml environment of `make deploy`: default (adpipe-dev) or prod.
ENV ?= default

.PHONY: help venv build lint test demo bench fuzz deploy clean distclean

help:
	@echo "make test    fmt check, clippy -D warnings, template lint, whole test suite (moto)"
	@echo "make demo    the whole job on loopback (moto, fake ad platforms): schedule -> extract -> stage -> Parquet lake"
	@echo "make bench   bootstrap sizes, init time, handler time, parse throughput, re-run writes, stream batch, running cost"
	@echo "make fuzz    schemathesis from openapi.yaml against the local API on moto (minutes; not in make test)"
	@echo "make build   sam build via cargo-lambda (ARCH=$(ARCH))"
	@echo "make lint    sam validate --lint, cfn-lint and checkov (skips justified in template.yaml)"
	@echo "make deploy  sam build + sam deploy --guided (ENV=$(ENV): default | prod)"
	@echo "make clean   remove build outputs (distclean: also .venv)"

venv:
	@scripts/venv.sh

# Builds with ARCH; deploy rebuilds with the environment's own Architecture (samconfig.toml).
build: venv
	sam build --parameter-overrides Architecture=$(ARCH)

lint: venv
	AWS_DEFAULT_REGION="$${AWS_DEFAULT_REGION:-us-east-1}" sam validate --lint
	cfn-lint template.yaml
	@# checkov's skips live in template.yaml's Metadata, each with its reason; any other
	@# finding fails. --skip-download: offline, no Prisma Cloud guidelines or severities.
	checkov -f template.yaml --framework cloudformation --compact --quiet --skip-download

test: venv
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	@$(MAKE) --no-print-directory lint
	cargo test --workspace

demo: venv
	scripts/demo.sh

bench: venv
	scripts/bench.sh

fuzz: venv
	scripts/fuzz.sh

deploy: venv
	sam build --config-env $(ENV)
	sam deploy --guided --config-env $(ENV)

clean:
	rm -rf .aws-sam .demo
	cargo clean

distclean: clean
	rm -rf .venv
