#!/usr/bin/env bash
# The CIFAR-10 speedrun side by side with airbench94 on a lent GPU machine (issue 28).
#
# The device takes at most 64 MiB a call (the tree, about 12 MiB, included) and CIFAR-10's
# archive is 173 MB, so the archive goes in four parts of 41 MiB, one a call, the calls back to back (the machine stays warm about 30 s after
# a call and keeps /tmp); the last call also carries the wheels the device image lacks and
# airbench94.py (from ../shared/reference, unmodified), and runs both, seeds interleaved.
#
#   here:    bash experiments/speedrun_device.sh prepare      # fills .carry/ (git-excluded)
#   device:  bash experiments/speedrun_device.sh receive 1    # carry .carry/p1
#            bash experiments/speedrun_device.sh receive 2    # carry .carry/p2
#            bash experiments/speedrun_device.sh receive 3    # carry .carry/p3
#            bash experiments/speedrun_device.sh run 10       # carry .carry/p4 .carry/run
#   (results come back in $OUT/speedrun: results.json, results.md, each seed's summary)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=/tmp/speedrun_data/cifar10

case "${1:-}" in
prepare)
  grep -qx '/.carry/' .git/info/exclude 2>/dev/null || echo '/.carry/' >> .git/info/exclude
  rm -rf .carry && mkdir -p .carry/p1 .carry/p2 .carry/p3 .carry/p4 .carry/run/whl
  split -n 4 -d "${CNNJAX_DATA_DIR:-../shared/datasets}/cifar10/cifar-10-binary.tar.gz" \
    .carry/part
  for i in 1 2 3 4; do mv ".carry/part0$((i - 1))" ".carry/p$i/part"; done
  cp ../shared/reference/airbench/airbench94.py ../shared/reference/airbench/LICENSE .carry/run/
  # what the device's image lacks (pure-Python wheels, the versions installed here)
  for pkg in ml_collections dm_pix tensorboardX; do
    version=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('$pkg'))")
    .venv/bin/python -m pip download --quiet --no-deps --only-binary=:all: \
      -d .carry/run/whl "$pkg==$version"
  done
  du -sh .carry/*
  ;;
receive)
  mkdir -p "$DATA"
  cp ".carry/p$2/part" "$DATA/part$2"
  ls -la "$DATA"
  ;;
run)
  cp .carry/p4/part "$DATA/part4"
  cat "$DATA"/part1 "$DATA"/part2 "$DATA"/part3 "$DATA"/part4 > "$DATA/cifar-10-binary.tar.gz"
  rm "$DATA"/part?
  python3 -m pip install -q --no-index --no-deps --target /tmp/site .carry/run/whl/*.whl
  export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 CNNJAX_DATA_DIR=/tmp/speedrun_data
  nvidia-smi --query-gpu=name,driver_version --format=csv | tee "$OUT/gpu.csv"
  python3 -m experiments.speedrun --seeds="${2:-10}" --workdir=/tmp/speedrun_runs \
    --airbench=.carry/run/airbench94.py --out="$OUT/speedrun" \
    --config.compute_dtype=bfloat16 --config.scan_steps=True --config.steps_per_sync=48 \
    2>&1 | grep -v '^I1\|^W1' | tee "$OUT/speedrun.log"
  ;;
*)
  echo "usage: $0 prepare | receive 1|2|3 | run [seeds]" >&2
  exit 2
  ;;
esac
