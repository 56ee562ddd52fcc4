"""A LoRA adapter on disk: written as peft writes it, atomically, and read back onto a model."""

import shutil
from pathlib import Path

from peft import PeftModel


def save_adapter(peft_model, out_dir: Path) -> None:
    """Write the adapter as peft does, into a temporary folder first, so that a killed job
    leaves no adapter that looks complete."""
    out_dir = Path(out_dir)
    tmp_dir = out_dir.with_name(f".{out_dir.name}.tmp")
    peft_model.save_pretrained(tmp_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        (tmp_dir / name).rename(out_dir / name)
    shutil.rmtree(tmp_dir)


def load_adapter(model, adapter_dir):
    return PeftModel.from_pretrained(model, str(adapter_dir)).eval()
