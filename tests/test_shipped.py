"""The shipped default: the IDEAL-LoRA adapter inside the package, `--adapter default | none | DIR`,
its model card, the wheel that carries it, and the one-line errors around it."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from qfocus.config import SummarizeConfig
from qfocus.errors import InputError
from qfocus.shipped import resolve_adapter, shipped_adapter
from qfocus.strategies import get_strategy
from test_cli import assert_one_line_error, run_cli
from test_compare import _meeting_jsonl

ROOT = Path(__file__).parents[1]
SHIPPED = shipped_adapter("smollm2")
FILES = ("adapter.safetensors", "adapter_config.json")
EXAMPLE = ROOT / "src" / "qfocus" / "examples" / "water_board_meeting.md"


def test_the_shipped_files_are_the_ones_the_model_card_names():
    card = (SHIPPED / "MODEL_CARD.md").read_text(encoding="utf-8")
    for name in FILES:
        digest = hashlib.sha256((SHIPPED / name).read_bytes()).hexdigest()
        assert f"{digest}  {name}" in card, f"MODEL_CARD.md does not name the sha256 of {name}"
    meta = json.loads((SHIPPED / "adapter_config.json").read_text())
    assert meta["config"]["method"] == "ideal-lora" and not meta["config"]["memory"]
    assert meta["context_window"] == 2048 and meta["base_model"]["name_or_path"] == "smollm2"
    assert (SHIPPED / "adapter.safetensors").stat().st_size < 8_000_000  # bf16, small enough to ship
    # the card in the docs is the card in the package
    assert (ROOT / "docs" / "model_card.md").read_text(encoding="utf-8") == card


def test_default_means_the_shipped_adapter_for_its_model_only(tiny_checkpoint):
    assert resolve_adapter("default", "smollm2") == str(SHIPPED)
    assert resolve_adapter("none", "smollm2") is None and resolve_adapter(None, "smollm2") is None
    assert resolve_adapter("default", str(tiny_checkpoint)) is None  # no adapter ships for another model
    assert resolve_adapter("runs/mine", "smollm2") == "runs/mine"
    assert SummarizeConfig().adapter == "default"
    assert get_strategy("truncate", SummarizeConfig()).adapter_folder() == str(SHIPPED)
    assert get_strategy("retrieve", SummarizeConfig()).adapter_folder() == str(SHIPPED)
    # strategies that cannot use an IDEAL adapter without memory run without the default, not with an error...
    assert get_strategy("lift", SummarizeConfig()).adapter_folder() is None
    assert get_strategy("infini", SummarizeConfig()).adapter_folder() is None
    # ...but naming it explicitly is refused as before
    with pytest.raises(InputError, match="generates weights from each query"):
        get_strategy("lift", SummarizeConfig(adapter=str(SHIPPED)))


def test_the_shipped_adapter_on_another_base_model_is_a_one_line_error(capsys, tiny_checkpoint):
    code, _, err = run_cli(capsys, "summarize", str(EXAMPLE), "-q", "What was decided?", "--model", str(tiny_checkpoint),
                           "--adapter", str(SHIPPED))
    assert_one_line_error(code, err, "trained on a different base model")


def test_a_damaged_adapter_file_is_a_one_line_error(capsys, tmp_path, tiny_checkpoint):
    from qfocus.hyper import HyperConfig, attach
    from qfocus.models import load_model

    folder = tmp_path / "adapter"
    attach(load_model(str(tiny_checkpoint)).model, HyperConfig(method="ideal-lora", rank=4, code_size=8)).save(folder)
    data = (folder / "adapter.safetensors").read_bytes()
    (folder / "adapter.safetensors").write_bytes(data[: len(data) // 2])  # a copy cut short
    code, _, err = run_cli(capsys, "summarize", str(EXAMPLE), "-q", "What was decided?", "--model", str(tiny_checkpoint),
                           "--adapter", str(folder))
    assert_one_line_error(code, err, "adapter.safetensors cannot be read", "damaged")


def test_compare_loads_each_specs_adapter_and_equals_separate_evals(capsys, tmp_path, tiny_checkpoint):
    """`truncate,truncate:adapter=none` beside `--adapter DIR`: each spec's answers are those of its own eval."""
    from qfocus.hyper import HyperConfig, attach
    from qfocus.models import load_model

    lm = load_model(str(tiny_checkpoint))
    expert = attach(lm.model, HyperConfig(method="ideal-lora", rank=4, code_size=8, dropout=0.0))
    torch.manual_seed(3)
    with torch.no_grad():
        for parameter in expert.named_adapter_parameters().values():
            parameter.add_(torch.randn_like(parameter) * 0.3)
    expert.save(tmp_path / "adapter")
    _meeting_jsonl(tmp_path / "test.jsonl", meetings=2)
    common = ["--data", "qmsum", "--split", "test", "--data-dir", str(tmp_path), "--limit", "3",
              "--model", str(tiny_checkpoint), "--max-new-tokens", "6", "--adapter", str(tmp_path / "adapter")]
    code, _, err = run_cli(capsys, "compare", *common, "--strategies", "truncate,truncate:adapter=none",
                           "--resamples", "100", "--out", str(tmp_path / "cmp"))
    assert code == 0, err

    def answers(folder):
        return [json.loads(line)["prediction"] for line in (folder / "predictions.jsonl").read_text().splitlines()]

    for spec, adapter in (("truncate", str(tmp_path / "adapter")), ("truncate-adapter-none", "none")):
        code, _, err = run_cli(capsys, "eval", *common[:-1], adapter, "--out", str(tmp_path / spec))
        assert code == 0, err
        assert answers(tmp_path / "cmp" / spec) == answers(tmp_path / spec)
    assert answers(tmp_path / "cmp" / "truncate") != answers(tmp_path / "cmp" / "truncate-adapter-none")


def test_the_built_wheel_carries_the_shipped_adapter(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("qfocus-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (*FILES, "MODEL_CARD.md"):
        assert f"qfocus/shipped/smollm2-ideal-lora/{name}" in names
    packed = zipfile.ZipFile(wheel).read("qfocus/shipped/smollm2-ideal-lora/adapter.safetensors")
    assert packed == (SHIPPED / "adapter.safetensors").read_bytes()


# Run in a child process: the real model loaded here would stay in pytest's memory, and every later
# subprocess (test_e2e measures one's peak RSS) would inherit that peak at fork.
REAL_MODEL = """
import json, sys
from pathlib import Path
import qfocus
from qfocus.config import GenerationConfig, SummarizeConfig
from qfocus.models import load_model
from qfocus.strategies import get_strategy

default = qfocus.load_model("smollm2")
zero = load_model("smollm2")  # the library's plain loader: no adapter
document = Path(sys.argv[1]).read_text(encoding="utf-8")  # longer than both windows
query = "What did the board decide about the Millbrook pumping station?"
short = GenerationConfig(max_new_tokens=16)
plain = get_strategy("truncate", SummarizeConfig(adapter=None, generation=short)).summarize(zero, document, query)
none = qfocus.summarize(document, query, "smollm2", config=SummarizeConfig(adapter="none", generation=short))
shipped = qfocus.summarize(document, query, default, config=SummarizeConfig(generation=short))
print(json.dumps({
    "default": {"method": default.expert and default.expert.config.method, "window": default.context_window},
    "zero": {"expert": zero.expert is not None, "window": zero.context_window},
    "answers": {name: [s.summary, s.prompt_tokens] for name, s in (("plain", plain), ("none", none), ("shipped", shipped))},
}))
"""


@pytest.mark.slow
def test_the_embedded_model_loads_the_shipped_adapter_by_default_and_none_is_zero_shot():
    child = subprocess.run([sys.executable, "-c", REAL_MODEL, str(EXAMPLE)], capture_output=True, text=True, timeout=900)
    assert child.returncode == 0, child.stderr[-2000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result["default"] == {"method": "ideal-lora", "window": 2048}  # the window it was trained for
    assert result["zero"] == {"expert": False, "window": 8192}
    (plain, plain_tokens), (none, none_tokens), (shipped, shipped_tokens) = (
        result["answers"][name] for name in ("plain", "none", "shipped"))
    assert none == plain and none_tokens == plain_tokens  # token for token
    assert shipped_tokens + 16 <= 2048 < plain_tokens  # the adapter's window, not the model's
    assert shipped != plain
