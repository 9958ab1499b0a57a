# The commands the README and CI use. Everything runs from the repository root.
.PHONY: setup run test test-fast test-e2e lint bench

setup:
	bash scripts/setup.sh

run: setup
	.venv/bin/verbatim dev

test: setup lint
	.venv/bin/python -m pytest

test-fast: setup
	.venv/bin/python -m pytest -m "not e2e and not model"

test-e2e: setup
	.venv/bin/python -m pytest -m e2e

lint: setup
	.venv/bin/ruff check .
	.venv/bin/mypy

bench: setup
	.venv/bin/python benchmarks/run_all.py
