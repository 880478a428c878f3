"""`qfocus train`: CLI smoke run with eval, resume-after-kill equivalence, schedule and run-folder rules."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from qfocus.cli import main
from qfocus.errors import InputError
from qfocus.hyper import HyperConfig
from qfocus.train import TrainConfig, train
from qfocus.train.checkpoint import checkpoint_folders

EMOTIONS = ("fear", "joy", "anger")


def write_covidet(folder, posts: int = 6) -> None:
    """A small CovidET-format file (train.json and val.json): every post with two emotions."""
    data = {}
    for i in range(posts):
        annotations = {"a1": [{"Emotion": EMOTIONS[i % 3], "Abstractive": f"Post {i} worries about the shot."},
                              {"Emotion": EMOTIONS[(i + 1) % 3], "Abstractive": f"Post {i} is glad the clinic was fast."}]}
        data[str(i)] = {"Reddit Post": f"Post {i}: I got my shot today. The clinic was fast. My arm hurts a bit.",
                        "Annotations": annotations}
    for split in ("train", "val"):
        (folder / f"{split}.json").write_text(json.dumps(data))


class Killed(Exception):
    """Stands in for the process being killed right after an optimisation step."""


def tiny_config(data_dir, checkpoint, out, **overrides) -> TrainConfig:
    values = dict(data="covidet", data_dir=str(data_dir), model=str(checkpoint), out=str(out), max_input_tokens=200,
                  max_summary_tokens=16, batch_size=2, grad_accum=2, epochs=3, save_every=2, lr=3e-3,
                  hyper=HyperConfig(method="ideal-lora", rank=4, code_size=8, dropout=0.1))
    values.update(overrides)
    return TrainConfig(**values)


def read_log(out) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_cli_train_then_eval(capsys, tmp_path, tiny_checkpoint):
    write_covidet(tmp_path)
    out = tmp_path / "run"
    code = main(["train", "--data", "covidet", "--data-dir", str(tmp_path), "--model", str(tiny_checkpoint),
                 "--method", "ideal-lora", "--max-steps", "2", "--limit", "8", "--batch-size", "2",
                 "--max-input-tokens", "200", "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 0, err
    log = read_log(out)
    assert [r["step"] for r in log] == [1, 2]
    assert all(math.isfinite(r["loss"]) and r["tokens"] > 0 and r["tokens_per_s"] > 0 for r in log)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["triples"] == 8 and summary["steps_per_epoch"] == 4
    assert (out / "adapter.safetensors").is_file() and [p.name for p in checkpoint_folders(out)] == ["step-000002"]
    assert not any("embed_tokens" in name for name in load_file(out / "adapter.safetensors"))  # adapter only

    code = main(["eval", "--data", "covidet", "--data-dir", str(tmp_path), "--split", "val", "--limit", "2",
                 "--model", str(tiny_checkpoint), "--adapter", str(out), "--max-new-tokens", "4",
                 "--out", str(tmp_path / "eval")])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["examples"] == 2 and metrics["config"]["summarize"]["adapter"] == str(out)
    assert "rougeLsum" in stdout


@pytest.mark.parametrize("kill_at, checkpoints, moved", [
    (5, ["step-000002", "step-000004"], False),  # resume mid-epoch, in place
    (7, ["step-000004", "step-000006"], True),  # at an epoch's end, from a copy elsewhere (a GPU run brought home)
])
def test_resume_after_kill_equals_uninterrupted_run(tmp_path, tiny_checkpoint, kill_at, checkpoints, moved):
    """12 triples, 2 x 2 per step: 3 steps per epoch, the last one a partial accumulation; 9 steps in all."""
    write_covidet(tmp_path)
    whole = tiny_config(tmp_path, tiny_checkpoint, tmp_path / "whole")
    train(whole)
    expected = read_log(tmp_path / "whole")
    assert len(expected) == 9

    def kill(record, total):
        if record["step"] == kill_at:
            raise Killed

    cut = tiny_config(tmp_path, tiny_checkpoint, tmp_path / "cut")
    with pytest.raises(Killed):
        train(cut, on_step=kill)
    assert [p.name for p in checkpoint_folders(tmp_path / "cut")] == checkpoints
    folder = tmp_path / "cut"
    if moved:
        folder = Path(shutil.copytree(folder, tmp_path / "elsewhere" / "cut"))
        shutil.rmtree(tmp_path / "cut")
    torch.manual_seed(1234)  # whatever the dead process's RNG was, the checkpoint's state must win
    train(tiny_config(tmp_path, tiny_checkpoint, folder, resume=True))
    resumed = read_log(folder)

    def comparable(log):
        return [(r["step"], r["loss"], r["lr"], r["grad_norm"], r["tokens"]) for r in log]

    assert comparable(resumed) == comparable(expected)  # step 5 once, nothing skipped, bit-identical numbers
    torch.testing.assert_close(load_file(folder / "adapter.safetensors"),
                               load_file(tmp_path / "whole" / "adapter.safetensors"), rtol=0, atol=0)


def test_learning_rate_warms_up_then_decays_by_cosine(tmp_path, tiny_checkpoint):
    write_covidet(tmp_path)
    config = tiny_config(tmp_path, tiny_checkpoint, tmp_path / "run", epochs=1, max_steps=10, grad_accum=1,
                         warmup_ratio=0.2, save_every=100)
    train(config)
    lrs = [r["lr"] for r in read_log(tmp_path / "run")]
    warm, peak = 2, config.lr
    expected = [peak * s / warm if s < warm else peak * 0.5 * (1 + math.cos(math.pi * (s - warm) / (10 - warm)))
                for s in range(10)]
    assert lrs == pytest.approx(expected, rel=1e-6)
    assert [p.name for p in checkpoint_folders(tmp_path / "run")] == ["step-000010"]  # the last step is saved


def test_loss_falls_and_only_the_adapter_changes(tmp_path, tiny_checkpoint):
    from qfocus.models import load_model

    write_covidet(tmp_path)
    train(tiny_config(tmp_path, tiny_checkpoint, tmp_path / "run", epochs=8, grad_accum=1, lr=1e-2, save_every=1000,
                      hyper=HyperConfig(method="lora", rank=4, dropout=0.0)))
    log = read_log(tmp_path / "run")
    assert sum(r["loss"] for r in log[-6:]) < 0.5 * sum(r["loss"] for r in log[:6])
    trained = load_model(str(tiny_checkpoint), adapter=str(tmp_path / "run"))
    fresh = load_model(str(tiny_checkpoint))
    base = {n: p for n, p in trained.model.named_parameters() if "qf_" not in n}
    for name, parameter in fresh.model.named_parameters():
        key = re.sub(r"\.(q|k|v|o|up)_proj\.weight$", r".\1_proj.base_layer.weight", name)  # LoRA-wrapped targets
        torch.testing.assert_close(base[key], parameter, rtol=0, atol=0)


def test_run_folder_rules(tmp_path, tiny_checkpoint):
    write_covidet(tmp_path)
    out = tmp_path / "run"
    train(tiny_config(tmp_path, tiny_checkpoint, out, max_steps=2))
    with pytest.raises(InputError, match="already holds a training run: pass --resume"):
        train(tiny_config(tmp_path, tiny_checkpoint, out, max_steps=2))
    with pytest.raises(InputError, match=r"other settings \(lr\)"):
        train(tiny_config(tmp_path, tiny_checkpoint, out, max_steps=2, lr=1e-4, resume=True))
    (out / "checkpoints" / ".partial-step-000003").mkdir()  # a save cut short is never resumed from
    assert [p.name for p in checkpoint_folders(out)] == ["step-000002"]
    summary = train(tiny_config(tmp_path, tiny_checkpoint, out, max_steps=2, resume=True))
    assert summary["steps"] == 2 and summary["steps_this_process"] == 0


@pytest.mark.parametrize("argv, needle", [
    (["--batch-size", "0"], "batch_size is 0"),
    (["--method", "dora"], "unknown adapter method 'dora'"),
    (["--precision", "fp8"], "unknown precision 'fp8'"),
    (["--data", "xsum"], "unknown dataset 'xsum'"),
])
def test_bad_train_options_are_one_line(capsys, tmp_path, argv, needle):
    code = main(["train", "--out", str(tmp_path / "run"), *argv])
    _, err = capsys.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err, err


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_loss_on_summary_logits_only_equals_full_logits_loss(tiny_lm, padding_side):
    """`loss_on_batch` projects only the summary positions; the loss must equal the model's own over all logits."""
    from qfocus.hyper import attach
    from qfocus.hyper.training import loss_on_batch, make_batch

    triples = [("What was decided?", "The board met on Tuesday. " * 6, "They approved the budget."),
               ("Who spoke?", "Speaker A: delay the launch.", "Speaker A, about a delay of the launch and the data.")]
    batch = make_batch(tiny_lm.tokenizer, triples, 200, padding_side=padding_side)
    expert = attach(tiny_lm.model, HyperConfig(method="ideal-lora", rank=4, dropout=0.0))
    try:
        with torch.no_grad():
            for p in expert.named_adapter_parameters().values():
                p.normal_(0, 0.05)  # a non-trivial adapter, so the query context matters
            fast = loss_on_batch(tiny_lm.model, expert, batch)
            with expert.query(batch.query_mask):
                full = tiny_lm.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                                     labels=batch.labels).loss
    finally:
        expert.detach()
    torch.testing.assert_close(fast, full)


def test_parameter_groups_cover_every_adapter_parameter_once(tiny_lm):
    from qfocus.hyper import attach
    from qfocus.train.loop import _parameter_groups

    expert = attach(tiny_lm.model, HyperConfig(method="ideal-lora", rank=4))
    try:
        trainable = [(n, p) for n, p in tiny_lm.model.named_parameters() if p.requires_grad]
        groups = _parameter_groups(trainable, TrainConfig(lr=1e-3, generator_lr_scale=10.0, weight_decay=0.1))
        seen = [id(p) for g in groups for p in g["params"]]
        assert sorted(seen) == sorted(id(p) for _, p in trainable) and len(set(seen)) == len(seen)
        names = {id(p): n for n, p in trainable}
        for group in groups:
            generator = {"qf_hypernetwork" in names[id(p)] for p in group["params"]}
            assert len(generator) == 1
            assert group["lr"] == pytest.approx(1e-2 if generator.pop() else 1e-3)
            assert group["weight_decay"] == (0.1 if group["params"][0].ndim >= 2 else 0.0)
        assert groups[0]["lr"] == 1e-3  # the logged lr is the adapter's
    finally:
        expert.detach()


@pytest.mark.parametrize("memory", [[], ["--memory", "--segment", "96"]], ids=["adapter", "memory"])
def test_two_processes_share_the_work(tmp_path, tiny_checkpoint, memory):
    """The same command under torchrun (gloo on CPU): 2 processes, batches split, one log, per-process RNG.
    With --memory the two processes read different numbers of segments and still reduce once per step."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    write_covidet(tmp_path)
    if memory:  # posts of different lengths: rows of 2 to 4 segments
        data = json.loads((tmp_path / "train.json").read_text())
        for i, post in enumerate(data.values()):
            post["Reddit Post"] += " My arm hurts a bit more today." * (4 * i)
        (tmp_path / "train.json").write_text(json.dumps(data))
    out = tmp_path / "run"
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([str(torchrun), "--nproc_per_node", "2", "-m", "qfocus", "train", "--data", "covidet",
                           "--data-dir", str(tmp_path), "--model", str(tiny_checkpoint), "--max-steps", "4",
                           "--batch-size", "2", "--max-input-tokens", "200", "--save-every", "2", "--out", str(out),
                           *memory],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    if memory:
        assert read_log(out)[-1]["gate_mean"] != 0.5
    summary = json.loads((out / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["effective_batch"] == 4 and summary["steps_per_epoch"] == 3
    assert [r["step"] for r in read_log(out)] == [1, 2, 3, 4]
    assert sorted(p.name for p in checkpoint_folders(out)[-1].glob("rng-*")) == ["rng-0.pt", "rng-1.pt"]
    assert done.stdout.count("final_loss") == 1


def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path, tiny_checkpoint):
    """A real `kill -9` of `qfocus train` at an arbitrary step, then `--resume`: the same log, step for step."""
    import os
    import signal
    import subprocess
    import sys
    import time

    write_covidet(tmp_path)

    def argv(out):
        return [sys.executable, "-m", "qfocus", "train", "--data", "covidet", "--data-dir", str(tmp_path),
                "--model", str(tiny_checkpoint), "--method", "ideal-lora", "--rank", "4", "--code-size", "8",
                "--epochs", "12", "--batch-size", "2", "--grad-accum", "2", "--max-input-tokens", "200",
                "--save-every", "3", "--lr", "3e-3", "--out", str(out)]

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cut = tmp_path / "cut"
    process = subprocess.Popen(argv(cut), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = cut / "log.jsonl"
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if log.exists() and len(log.read_text().splitlines()) >= 7:
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = len(read_log(cut))
    assert process.returncode == -signal.SIGKILL and killed_at < 36, "the run ended before it could be killed"
    assert subprocess.run(argv(cut) + ["--resume"], env=env, capture_output=True).returncode == 0

    whole = tmp_path / "whole"
    assert subprocess.run(argv(whole), env=env, capture_output=True).returncode == 0
    expected = read_log(whole)
    assert len(expected) == 36  # 12 triples / (2 x 2) = 3 steps per epoch, 12 epochs

    def comparable(records):
        return [(r["step"], r["loss"], r["lr"], r["grad_norm"], r["tokens"]) for r in records]

    assert comparable(read_log(cut)) == comparable(expected)


def test_yaml_config_mirrors_flags_with_nested_hyper(tmp_path):
    import argparse

    from qfocus.cli.args import add_config_arguments, build_config

    (tmp_path / "train.yaml").write_text("data: qmsum-gold\nmax_steps: 30\nlr: 0.002\n"
                                         "hyper: {method: lora, rank: 4, targets: [q, v]}\n")
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, TrainConfig)
    args = parser.parse_args(["--rank", "16", "--batch-size", "2"])
    config = build_config(TrainConfig, args, str(tmp_path / "train.yaml"))
    assert (config.data, config.max_steps, config.lr, config.batch_size) == ("qmsum-gold", 30, 0.002, 2)
    assert (config.hyper.method, config.hyper.rank, config.hyper.targets) == ("lora", 16, ("q", "v"))  # flag wins
    assert TrainConfig(hyper=HyperConfig(method="prompt")).peak_lr == 1e-2  # per-kind default lr


def test_cli_train_with_memory_then_summarize_and_eval_with_ideal(capsys, tmp_path, tiny_checkpoint):
    """`--memory`: per-segment training moves the gates (logged every step); the adapter then reads a
    document longer than the model's window with `--strategy ideal`."""
    write_covidet(tmp_path)
    out = tmp_path / "run"
    code = main(["train", "--data", "covidet", "--data-dir", str(tmp_path), "--model", str(tiny_checkpoint),
                 "--method", "ideal-lora", "--memory", "--segment", "96", "--max-steps", "3", "--limit", "8",
                 "--batch-size", "2", "--max-input-tokens", "200", "--warmup-ratio", "0", "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 0, err
    log = read_log(out)
    assert [r["step"] for r in log] == [1, 2, 3] and all(r["gate_lr"] > r["lr"] for r in log)
    assert log[0]["gate_mean"] != 0.5 and log[-1]["gate_max"] - log[-1]["gate_min"] > 1e-3  # the gates moved
    tensors = load_file(out / "adapter.safetensors")
    assert any(name.endswith("qf_beta") for name in tensors)

    document = tmp_path / "long.txt"
    document.write_text("The clinic was fast and my arm hurts a bit. " * 120)  # > 4x the 256-token window
    code = main(["summarize", str(document), "-q", "fear", "--model", str(tiny_checkpoint), "--adapter", str(out),
                 "--strategy", "ideal", "--max-new-tokens", "4", "--json"])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(stdout)
    assert result["strategy"] == "ideal" and result["truncated_tokens"] == 0 and result["prompt_tokens"] > 1024

    code = main(["eval", "--data", "covidet", "--data-dir", str(tmp_path), "--split", "val", "--limit", "2",
                 "--model", str(tiny_checkpoint), "--adapter", str(out), "--strategy", "ideal",
                 "--max-new-tokens", "4", "--out", str(tmp_path / "eval")])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["examples"] == 2


def test_a_non_finite_step_is_skipped_not_applied(tmp_path, tiny_checkpoint, monkeypatch):
    """A NaN loss (as a bf16 overflow gives) must not reach the weights: the step is logged as skipped."""
    import qfocus.hyper.training as training

    write_covidet(tmp_path)
    real, calls = training.loss_on_batch, []

    def poisoned(model, expert, batch):
        calls.append(1)
        loss = real(model, expert, batch)
        return loss * float("nan") if len(calls) == 2 else loss

    monkeypatch.setattr(training, "loss_on_batch", poisoned)
    out = tmp_path / "run"
    train(tiny_config(tmp_path, tiny_checkpoint, out, epochs=1, max_steps=3, grad_accum=1, save_every=1,
                      keep_checkpoints=3))
    assert [r.get("skipped", False) for r in read_log(out)] == [False, True, False]
    before, after = (load_file(out / "checkpoints" / f"step-00000{s}" / "adapter.safetensors") for s in (1, 2))
    changed = load_file(out / "checkpoints" / "step-000003" / "adapter.safetensors")
    assert before.keys() == after.keys()
    for name in before:
        torch.testing.assert_close(after[name], before[name], rtol=0, atol=0)
    assert any(not torch.equal(changed[name], before[name]) for name in before)  # the next step learns again
    assert all(torch.isfinite(t).all() for t in load_file(out / "adapter.safetensors").values())


def test_training_on_two_datasets_joins_their_triples():
    from qfocus.data import load_dataset, training_triples
    from qfocus.train.loop import _triples

    joined = _triples(TrainConfig(data="qmsum+squality"))
    parts = [training_triples(load_dataset(name, "train")) for name in ("qmsum", "squality")]
    assert joined == parts[0] + parts[1]
    with pytest.raises(InputError, match="one dataset"):
        _triples(TrainConfig(data="qmsum+squality", data_dir="somewhere"))
