"""`qfocus cache list|clear`: what qfocus keeps under its cache folder, and freeing it.

Two kinds of entries: `models` (embedded GGUF models converted once to safetensors) and `lift`
(adapters fine-tuned on one document each). The folder is `$QFOCUS_CACHE`, else ~/.cache/qfocus.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

KINDS = ("models", "lift")

DESCRIPTION = """\
Show or free what qfocus keeps in its cache folder ($QFOCUS_CACHE, else ~/.cache/qfocus):
  models  embedded models converted once from GGUF to safetensors (rebuilt on demand, ~20 s)
  lift    adapters fine-tuned on one document each by --strategy lift (rebuilt by training again)
"""

EXAMPLES = """\
examples:
  qfocus cache list                 # every entry with its size, age and what it holds
  qfocus cache list --json
  qfocus cache clear --kind lift    # forget every document adaptation
  qfocus cache clear                # everything
"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("cache", help="show or free the cache (converted models, lift adaptations)",
                                   description=DESCRIPTION, epilog=EXAMPLES,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(title="actions", metavar="ACTION", parser_class=type(parser))
    listing = actions.add_parser("list", help="entries with size, age and contents")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(run=run_list)
    clearing = actions.add_parser("clear", help="delete entries")
    clearing.add_argument("--kind", choices=(*KINDS, "all"), default="all", help="which entries (default: all)")
    clearing.set_defaults(run=run_clear)


def entries() -> list[dict]:
    """Every complete entry: kind, name, path, bytes, age in seconds, and a line on what it holds."""
    from qfocus.models.cache import cache_dir

    found = []
    for kind in KINDS:
        folder = cache_dir() / kind
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            if path.name.startswith(".") or not path.is_dir():
                continue
            found.append({"kind": kind, "name": path.name, "path": str(path), "bytes": _size(path),
                          "age_seconds": round(time.time() - path.stat().st_mtime), "about": _about(kind, path)})
    return found


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _about(kind: str, path: Path) -> str:
    if kind != "lift":
        return "converted model"
    try:
        meta = json.loads((path / "lift.json").read_text())
    except (OSError, ValueError):
        return "unreadable entry"
    settings = meta.get("settings", {})
    return (f"{meta.get('model')}: {meta.get('document_tokens')} document tokens, {settings.get('lift_adapter')}, "
            f"{meta.get('steps')} steps in {meta.get('seconds')} s, loss {meta.get('loss_start')} -> {meta.get('loss_end')}")


def run_list(args: argparse.Namespace) -> int:
    from qfocus.models.cache import cache_dir

    found = entries()
    if args.json:
        for entry in found:
            print(json.dumps(entry))
        return 0
    if not found:
        print(f"the cache at {cache_dir()} is empty")
        return 0
    for entry in found:
        print(f"{entry['kind']:6}  {entry['name']:28}  {_human(entry['bytes']):>9}  {_age(entry['age_seconds']):>8}  "
              f"{entry['about']}")
    print(f"{len(found)} entries, {_human(sum(e['bytes'] for e in found))} in {cache_dir()}")
    return 0


def run_clear(args: argparse.Namespace) -> int:
    from qfocus.models.cache import cache_dir

    kinds = KINDS if args.kind == "all" else (args.kind,)
    freed, count = 0, 0
    for kind in kinds:
        folder = cache_dir() / kind
        for path in list(folder.iterdir()) if folder.is_dir() else []:
            if path.is_dir():  # complete entries and stale temporary folders of interrupted runs
                freed += _size(path)
                count += not path.name.startswith(".")
                shutil.rmtree(path, ignore_errors=True)
    print(f"removed {count} entries ({_human(freed)}) from {cache_dir()}")
    return 0


def _human(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def _age(seconds: int) -> str:
    for unit, span in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= span:
            return f"{seconds // span} {unit}"
    return f"{seconds} s"
