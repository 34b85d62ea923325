# Everything a developer or CI needs, from a fresh Debian machine (as root) onwards.
#   make test     venv + both apiservers + tools + Prometheus + lint (ruff, import contracts) + types + the whole pytest suite
#   make demo     the operator end to end on the local control plane and emulator
#   make cluster  a local kube-apiserver by hand (prints the KUBECONFIG to export)

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export ACR_ECI_CACHE ?= $(HOME)/.cache/acr-eci-operator
PYTEST_ARGS ?=

.PHONY: test lint typecheck pytest venv apiserver apiextensions tools prometheus cluster demo emulator bench clean

venv: $(VENV)/.installed

# Three distributions, each installed editable: the operator (pyproject.toml, operator/), the ECI emulator
# (emulator/) and the local control plane (controlplane/); the last two are for tests only.
$(VENV)/.installed: pyproject.toml emulator/pyproject.toml controlplane/pyproject.toml
	@$(PYTHON) -c "import venv, ensurepip" 2>/dev/null || (apt-get update -qq && apt-get install -y -qq python3 python3-venv)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ./emulator -e ./controlplane -e '.[test,dev]'
	touch $@

apiserver:
	bash controlplane/local_control_plane/build-kube-apiserver.sh >/dev/null

# The CEL-enforcing apiextensions-apiserver 1.36 (tests/api/test_api_cel_server.py).
apiextensions:
	bash controlplane/local_control_plane/build-apiextensions-apiserver.sh >/dev/null

tools:
	bash scripts/fetch-tools.sh >/dev/null

# Debian's prometheus and promtool (the metrics tests start their own Prometheus; no service is started).
prometheus:
	bash scripts/install-prometheus.sh

lint: venv
	$(VENV)/bin/ruff check operator emulator controlplane tests scripts benchmarks
	$(VENV)/bin/ruff format --check operator emulator controlplane tests scripts benchmarks
	$(VENV)/bin/lint-imports --no-logo

typecheck: venv
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict scripts/demo.py benchmarks/bench_poller.py benchmarks/bench_emulator.py benchmarks/bench_waves.py

pytest: venv apiserver apiextensions tools prometheus
	$(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

cluster: venv apiserver
	$(VENV)/bin/local-control-plane

emulator: venv
	$(VENV)/bin/eci-emulator

demo: venv apiserver
	$(PY) scripts/demo.py

bench: venv apiserver
	$(PY) benchmarks/bench_emulator.py
	$(PY) benchmarks/bench_poller.py
	$(PY) benchmarks/bench_waves.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
