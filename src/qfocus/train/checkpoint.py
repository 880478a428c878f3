"""Resumable adapter-only checkpoints.

    OUT/checkpoints/step-000050/
        adapter.safetensors, adapter_config.json   the adapter, loadable with `--adapter` as is
        trainer.pt                                 optimiser, scheduler and step
        rng-0.pt (one per process)                 torch CPU and CUDA generator states

The base model is never written. A checkpoint is assembled in a hidden folder and renamed when
complete, so a process killed while saving leaves the previous checkpoint as the newest one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

CHECKPOINTS = "checkpoints"
TRAINER_FILE = "trainer.pt"


def checkpoint_folders(out: str | Path) -> list[Path]:
    """Complete checkpoints of the run in `out`, oldest first."""
    root = Path(out) / CHECKPOINTS
    if not root.is_dir():
        return []
    done = [p for p in root.glob("step-*") if (p / TRAINER_FILE).is_file()]
    return sorted(done, key=lambda p: int(p.name.removeprefix("step-")))


def save_checkpoint(accelerator, out: str | Path, step: int, expert, optimizer, scheduler, keep: int) -> Path:
    """Write checkpoint `step` (every process calls this; the main process writes the shared files)."""
    root = Path(out) / CHECKPOINTS
    final, partial = root / f"step-{step:06d}", root / f".partial-step-{step:06d}"
    if accelerator.is_main_process:
        shutil.rmtree(partial, ignore_errors=True)
        expert.save(partial)
        torch.save({"step": step, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
                   partial / TRAINER_FILE)
    accelerator.wait_for_everyone()
    torch.save(_rng_state(), partial / f"rng-{accelerator.process_index}.pt")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
        for old in checkpoint_folders(out)[:-keep]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator, folder: Path, expert, optimizer, scheduler) -> tuple[int, dict | None]:
    """Restore adapter, optimiser and scheduler from `folder`; returns (step, this process's RNG state).

    The RNG state is returned rather than applied: the caller restores it where the interrupted run
    stood when it saved, relative to the data-loader iterator's own draw (see `qfocus.train.loop`).
    """
    expert.load_weights(folder)
    state = torch.load(folder / TRAINER_FILE, map_location="cpu", weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    rng_file = folder / f"rng-{accelerator.process_index}.pt"
    rng = torch.load(rng_file, weights_only=False) if rng_file.is_file() else None
    return int(state["step"]), rng


def _rng_state() -> dict:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    """Put the generators back as `state` says; returns None (the caller's pending state is used up)."""
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
