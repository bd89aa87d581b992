# cnnjax: `make train` installs into .venv and runs the main job; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RUNS ?= runs
# Extra flags for the runner, e.g. make train ARGS="--config.epochs=5".
ARGS ?=
# The PyTorch reference of `make bench`: the CPU wheel that pip finds on the project's machines
# (a plain `torch` from PyPI is a CUDA build of several GB); set TORCH=torch for the latest.
TORCH ?= torch==2.13.0
# make bench QUICK=1: fewer timing windows, no torch.compile (a minute or two);
# make sweep-<name> QUICK=1: the sweep's reduced grid.
QUICK ?=

.PHONY: install install-bench train test bench train-digits train-mnist train-fashion-mnist \
	train-cifar10 train-cifar10-resnet20 train-cifar10-speedrun readme-results visualize genomic segmentation superres gan flow clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m cnnjax.layers.onednn build --if-available
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed
	$(PY) -m pip install --quiet '$(TORCH)'
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $@

install-bench: $(VENV)/.installed-bench

train: train-digits

train-digits: install
	$(PY) -m experiments.train --config=experiments/configs/digits.py --workdir=$(RUNS)/digits $(ARGS)

train-mnist: install
	$(PY) -m experiments.train --config=experiments/configs/mnist.py --workdir=$(RUNS)/mnist $(ARGS)

train-fashion-mnist: install
	$(PY) -m experiments.train --config=experiments/configs/fashion_mnist.py --workdir=$(RUNS)/fashion_mnist $(ARGS)

train-cifar10: install
	$(PY) -m experiments.train --config=experiments/configs/cifar10.py --workdir=$(RUNS)/cifar10 $(ARGS)

# ResNet-20 on CIFAR-10: 15 epochs, one-cycle Nesterov SGD, crop + flip, all 50,000 training
# images (experiments/configs/cifar10_resnet20.py; README results).
train-cifar10-resnet20: install
	$(PY) -m experiments.train --config=experiments/configs/cifar10_resnet20.py \
		--workdir=$(RUNS)/cifar10_resnet20 $(ARGS)

# airbench94's recipe from cnnjax parts (experiments/configs/cifar10_speedrun.py; README).
train-cifar10-speedrun: install
	$(PY) -m experiments.train --config=experiments/configs/cifar10_speedrun.py \
		--workdir=$(RUNS)/cifar10_speedrun $(ARGS)

# Training speed against PyTorch eager and torch.compile, time to 99% on MNIST, compile cache.
bench: install-bench
	mkdir -p $(RUNS)
	$(PY) -m experiments.benchmark --out=$(RUNS)/benchmark.json \
		$(if $(QUICK),--quick,--time_to_accuracy --compile_cache) $(ARGS)

# The README's results table from the runs committed in experiments/results/main_runs/
# (add one with ARGS="--add=mnist:runs/mnist").
readme-results: install
	$(PY) -m experiments.readme_results $(ARGS)

# Sweeps (experiments/sweeps/, listed in the README): make sweep-<name>; QUICK=1 for the
# reduced grid. Full sweeps write experiments/results/<name>/.
sweep-%: install
	$(PY) -m experiments.sweep --sweep=$* $(if $(QUICK),--quick) $(ARGS)

# Pictures of a trained run (filters, feature maps, Grad-CAM/CAM, mistakes) into
# <WORKDIR>/visualize/: make visualize WORKDIR=runs/cifar10_resnet20
WORKDIR ?= $(RUNS)/cifar10_resnet20
visualize: install
	$(PY) -m experiments.visualize --workdir=$(WORKDIR) $(ARGS)

# Genomic prediction: 1-D CNN against ridge regression on simulated genotypes: the sweep
# experiments/sweeps/genomic.py (the genomic task; writes experiments/results/genomic/);
# QUICK=1: one small setting.
genomic: sweep-genomic

# FCN segmentation of digits on canvases, with and without skips: the sweep
# experiments/sweeps/segmentation.py (the segmentation task; writes
# experiments/results/segmentation/); QUICK=1: 8x8 digits, tiny nets, one epoch.
segmentation: sweep-segmentation

# Super-resolution: SRCNN and ESPCN against bicubic at x2 and x4 on MNIST and CIFAR-10: the
# sweep experiments/sweeps/superres.py (the superres task; writes experiments/results/superres/);
# QUICK=1: 8x8 digits, x2.
superres: sweep-superres

# GANs on MNIST and Fashion-MNIST: unconditional and conditional DC-GAN and StackGAN, scored
# by our own LeNet-5: the sweep experiments/sweeps/gan.py (the gan task; writes
# experiments/results/gan/); QUICK=1: 8x8 digits, tiny nets.
gan: sweep-gan

# Optical flow: FlowNetSimple on CIFAR-10 pairs warped by known smooth random flows, against
# zero flow: the sweep experiments/sweeps/flow.py (the flow task; writes
# experiments/results/flow/); QUICK=1: 8x8 digits.
flow: sweep-flow

test: install
	$(PY) -m pytest -q -n auto

clean:
	rm -rf $(VENV) $(RUNS)
