# cnnjax: `make train` installs into .venv and runs the main job; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RUNS ?= runs
# Extra flags for the runner, e.g. make train ARGS="--config.epochs=5".
ARGS ?=

.PHONY: install train test train-digits train-mnist train-fashion-mnist train-cifar10 clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

train: train-digits

train-digits: install
	$(PY) -m experiments.train --config=experiments/configs/digits.py --workdir=$(RUNS)/digits $(ARGS)

train-mnist: install
	$(PY) -m experiments.train --config=experiments/configs/mnist.py --workdir=$(RUNS)/mnist $(ARGS)

train-fashion-mnist: install
	$(PY) -m experiments.train --config=experiments/configs/fashion_mnist.py --workdir=$(RUNS)/fashion_mnist $(ARGS)

train-cifar10: install
	$(PY) -m experiments.train --config=experiments/configs/cifar10.py --workdir=$(RUNS)/cifar10 $(ARGS)

test: install
	$(PY) -m pytest -q -n auto

clean:
	rm -rf $(VENV) $(RUNS)
