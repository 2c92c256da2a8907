# plancheck: `make audit` (the audit of the embedded baseline) and `make test` (the suite's tests)
# do all set-up on a fresh Debian/Ubuntu host: system packages and dockerd (as root), a venv with
# the Python dependencies, the offline images, the deployed baseline.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST := $(PY) -m pytest
WAIVERS := profiles/prod.waivers.yaml

.PHONY: all system venv images baseline-up baseline-down audit static gate test unit e2e live docs bench clean

all: test

# Debian packages the suite and the baseline need (root only; skipped when present)
system:
	@bash baseline/scripts/ensure-docker.sh
	@command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null || { \
	  [ "$$(id -u)" = 0 ] || { echo "plancheck: python3-venv is missing; run as root or install it" >&2; exit 1; }; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null; }
	@# the report's browser test renders report.html in headless Chromium (Korean needs a CJK font)
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-nanum >/dev/null \
	  || echo "plancheck: chromium not installed: the report's browser test will be skipped" >&2; }
	@# the fleet tests run one sshd per network namespace (tests/fleet); policy-rc.d keeps a systemd
	@# host from starting the system's own sshd on port 22 when the package is installed
	@[ -x /usr/sbin/sshd ] || { [ "$$(id -u)" = 0 ] && ( printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server openssh-client >/dev/null; rc=$$?; \
	  rm -f /usr/sbin/policy-rc.d; exit $$rc ) \
	  || echo "plancheck: openssh-server not installed: the fleet tests will be skipped" >&2; }

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	@command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null || $(MAKE) -s system
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,fleet]'
	@touch $@

images: system
	bash baseline/images/build.sh

baseline-up: system venv
	bash baseline/scripts/up.sh

baseline-down:
	bash baseline/scripts/down.sh

# The main job: deploy the reference baseline and audit it live.
audit: baseline-up
	@rc=0; $(PYTEST) --profile=baseline --prom-textfile=baseline/.textfile/plancheck.prom || rc=$$?; \
	echo "plancheck: reports in $$(readlink -f reports/latest) (junit.xml, report.html, results.json)"; exit $$rc

# Pre-change gating of the plan's desired state (no platform needed)
static: venv
	$(PYTEST) --profile=prod --static --waivers=$(WAIVERS)

# Pre-change gate: the static audit of the working tree against the same audit of a git ref; fails
# only on findings the change introduces (python -m plancheck.gate --help). CI: make gate REF=origin/main
REF ?= main
FAIL_ON ?= low
gate: venv
	$(PY) -m plancheck.gate --ref $(REF) --fail-on $(FAIL_ON) --waivers $(WAIVERS) $(GATE_ARGS)

unit: venv
	$(PYTEST) tests/unit -q

# the commands end to end on the repository's files (hermetic; they start git, chromium, child audits)
e2e: venv
	$(PYTEST) tests/e2e -q

live: baseline-up
	PLANCHECK_LIVE_TESTS=1 $(PYTEST) tests/live -q -m "live or restore_drill"

# Everything CI runs: unit tests, the static audit, the live audit, break-and-detect tests.
test: venv baseline-up
	$(PYTEST) tests/unit -q -n 2 --dist worksteal
	$(PYTEST) tests/e2e -q -n 2 --dist worksteal
	$(PYTEST) --profile=prod --static --waivers=$(WAIVERS) -q
	$(PYTEST) --profile=baseline -q --prom-textfile=baseline/.textfile/plancheck.prom --alert-drill
	PLANCHECK_LIVE_TESTS=1 $(PYTEST) tests/live -q -p no:randomly
	PLANCHECK_LIVE_TESTS=1 $(PYTEST) tests/fleet -q -p no:randomly

docs: venv
	$(PY) -m plancheck.catalog > docs/controls.md

# The speed figures beside their targets (bench/README in each file's docstring). Every bench runs
# even when one misses its target; the exit status says whether any did. The live figures need the
# baseline up; the others in bench/ are GPU-lab and peer-tool tools, run by hand.
bench: venv
	@rc=0; \
	echo "== bench/audit_speed.py --live (static, overhead, 10x scale, live)"; $(PY) bench/audit_speed.py --live || rc=1; \
	t=; command -v testssl >/dev/null || command -v testssl.sh >/dev/null || t=--skip-testssl; \
	echo "== bench/tls_ports_bench.py $$t"; $(PY) bench/tls_ports_bench.py $$t || rc=1; \
	echo "== bench/fleet_bench.py"; $(PY) bench/fleet_bench.py || rc=1; \
	exit $$rc

clean:
	rm -rf $(VENV) *.egg-info reports/*/ reports/latest
