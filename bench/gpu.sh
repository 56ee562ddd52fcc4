#!/usr/bin/env bash
# The first run on a GPU machine, prepared (under 10 minutes on an H100): for each 7B model of the
# paper preset, a model of its published shape (tests/fixtures/configs/, random weights built on
# the card: nothing is downloaded) runs one batch of each model task at the preset's lengths
# (answers, reads, LoRA plain, with the JS regulariser and with gradient checkpointing, scoring),
# each in a process of its own (bench/batch_memory.py), and prints tokens/s, the share of the
# card's bf16 peak, and the measured against the predicted peak memory of the batch.
#   bash bench/gpu.sh            # on the GPU
#   bash bench/gpu.sh --tiny     # a tiny model of the same shapes on the CPU (the tests run this)
# Needs torch, transformers and peft (no snakemake or plotnine).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python}
if [[ ${1:-} == --tiny ]]; then
  run=(--scale tiny --device cpu --dtype float32 --rows 2 --width 64 --new-tokens 4)
else
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  "$python" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, torch.cuda.get_device_name())'
  # every model task one batch of 4 rows of 2,048 tokens (the preset's long MMLU prompts; its LoRA
  # texts are far shorter) and 100 new tokens (its open answers)
  run=(--device cuda --dtype bfloat16 --rows 4 --width 2048 --new-tokens 100)
fi
status=0
for config in mistral-7b-v0.1 llama-2-7b-hf; do
  "$python" bench/batch_memory.py --config "tests/fixtures/configs/$config.json" "${run[@]}" || status=1
done
exit $status
