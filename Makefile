# Every target creates or reuses .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo run test lint bench clean image

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip >/dev/null
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	@bash .ci/install-binaries --demo || true
	$(BIN)/python -m tests.demo

run: $(STAMP)
	$(BIN)/genai-bot run

# Two workers, a test module per worker at a time (its fixtures stay shared): the tests
# mostly wait on real binaries and the clock, so this halves the wall time on 2 cores.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check bot commands tests
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m tests.bench

# The container image (Dockerfile), tagged genai-ops-bot:<version>, with docker or podman.
# Without either, .ci/build-image builds it with buildah (as root, as CI does).
image:
	@engine=$$(command -v docker || command -v podman) || { \
	  echo "make image: neither docker nor podman is installed (.ci/build-image uses buildah)" >&2; \
	  exit 1; }; \
	version=$$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' pyproject.toml | head -n1); \
	echo "$$engine build --build-arg VERSION=$$version -t genai-ops-bot:$$version ."; \
	"$$engine" build --build-arg VERSION=$$version -t genai-ops-bot:$$version .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache genai-bot.db*
