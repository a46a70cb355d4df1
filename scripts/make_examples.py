"""Regenerate the bundled example checkpoints in data/examples/ and their provenance.

Each example is trained by `rnndyn train` on a built-in task (offline, seeded, deterministic on CPU):
    python scripts/make_examples.py
writes data/examples/<name>.pt and data/examples/PROVENANCE.json (commands, sha256, metrics).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rnndyn.io.checkpoint import file_sha256

EXAMPLES = {
    "gru_tomita4": ["--task", "tomita4", "--arch", "gru", "--init", "orthogonal", "--seed", "0"],
    "rnn_adding": ["--task", "adding", "--arch", "rnn", "--init", "orthogonal", "--seed", "0"],
    "lstm_sine": ["--task", "sine", "--arch", "lstm", "--init", "default", "--seed", "0"],
}


def main() -> None:
    out = Path(__file__).resolve().parent.parent / "data" / "examples"
    out.mkdir(parents=True, exist_ok=True)
    records = {}
    for name, args in EXAMPLES.items():
        path = out / f"{name}.pt"
        cmd = ["rnndyn", "--quiet", "train", *args, "-o", str(path), "--json", "--force"]
        res = subprocess.run(cmd, check=True, capture_output=True, text=True)
        doc = json.loads(res.stdout)
        records[name] = {
            "file": f"data/examples/{name}.pt",
            "command": " ".join([*cmd[:-4], "-o", f"data/examples/{name}.pt"]),
            "sha256": file_sha256(path),
            "metrics": doc.get("metrics"),
            "torch_threads": 1,
        }
        sys.stderr.write(f"{name}: {doc.get('metrics')}\n")
    (out / "PROVENANCE.json").write_text(json.dumps(records, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
