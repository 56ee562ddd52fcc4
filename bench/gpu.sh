#!/usr/bin/env bash
# The first run on a GPU machine, prepared (about 10 minutes on an H100): for each 7B model of the
# paper preset, a model of its published shape (tests/fixtures/configs/, random weights built on
# the card: nothing is downloaded) runs, through the job code, the batches the preset's budget
# depends on (bench/batch_memory.py), and prints the one table to compare with the plan
# (python -m crossprobe.plan --configfile configs/paper.yaml: its rows per batch, peak GiB and
# hours at --mfu):
#   1. its longest texts, 4,096 tokens (max_length): answers with 100 new tokens (and their
#      decoding rate), reads, query scoring and LoRA training with the JS regulariser and
#      recomputed layers (one row does not fit without), each batch as many rows as the
#      workflow's memory budget gives this card;
#   2. LoRA's real training texts, about 160 tokens, at the preset's micro-batch of 32 with the
#      JS regulariser, layers kept (lora.gradient_checkpointing: auto keeps them there).
# Memory is allocated and reserved (what the card must really have free) against predicted.
#   bash bench/gpu.sh            # on the GPU
#   bash bench/gpu.sh --tiny     # a tiny model of the same shapes on the CPU (the tests run this)
# Runs with the project's venv (.venv/bin/python, else $PYTHON or python3); needs torch,
# transformers and peft (no snakemake or plotnine).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z ${PYTHON:-} ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
if [[ ${1:-} == --tiny ]]; then
  common=(--scale tiny --device cpu --dtype float32)
  long=(--rows 2 --width 64 --new-tokens 4)
  short=(--rows 4 --width 16)
else
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  "$PYTHON" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, torch.cuda.get_device_name())'
  common=(--device cuda --dtype bfloat16)
  long=(--rows auto --width 4096 --new-tokens 100)
  short=(--rows 32 --width 160)
fi
status=0
for config in mistral-7b-v0.1 llama-2-7b-hf; do
  "$PYTHON" bench/batch_memory.py --config "tests/fixtures/configs/$config.json" "${common[@]}" \
    "${long[@]}" --batches generate,reads,query,train-checkpointing || status=1
  "$PYTHON" bench/batch_memory.py --config "tests/fixtures/configs/$config.json" "${common[@]}" \
    "${short[@]}" --batches train-js | grep '^|' | tail -1 || status=1
done
exit $status
