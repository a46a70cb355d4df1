"""Regenerate the bundled example checkpoints in data/examples/ and their provenance.

Each example is trained by `rnndyn train` on a built-in task (offline, seeded, deterministic on CPU):
    python scripts/make_examples.py               # all three
    python scripts/make_examples.py rnn_adding    # only the named ones (the others' records are kept)
writes data/examples/<name>.pt and updates data/examples/PROVENANCE.json (command, sha256, metrics).

The vanilla RNN learns adding at T = 20 (test MSE ≈ 0.008 against the trivial 0.167); at the task's
default T = 100 a tanh RNN stays on the plateau (≈ 0.16), so it would be an example of nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rnndyn.readers.checkpoint import file_sha256

EXAMPLES = {
    "gru_tomita4": ["--task", "tomita4", "--arch", "gru", "--init", "orthogonal", "--seed", "0"],
    "rnn_adding": [
        *("--task", "adding", "--arch", "rnn", "--init", "orthogonal", "--seed", "0"),
        *("-p", "T=20", "--epochs", "100", "--threads", "1"),
    ],
    "lstm_sine": ["--task", "sine", "--arch", "lstm", "--init", "default", "--seed", "0"],
}


def main(names: list[str]) -> None:
    out = Path(__file__).resolve().parent.parent / "data" / "examples"
    out.mkdir(parents=True, exist_ok=True)
    unknown = sorted(set(names) - set(EXAMPLES))
    if unknown:
        sys.exit(f"unknown example(s) {unknown}; choose from {sorted(EXAMPLES)}")
    prov = out / "PROVENANCE.json"
    records = json.loads(prov.read_text()) if names and prov.is_file() else {}
    for name, args in EXAMPLES.items():
        if names and name not in names:
            continue
        path = out / f"{name}.pt"
        cmd = ["rnndyn", "--quiet", "train", *args, "-o", str(path), "--json", "--force"]
        res = subprocess.run(cmd, check=True, capture_output=True, text=True)
        doc = json.loads(res.stdout)
        records[name] = {
            "file": f"data/examples/{name}.pt",
            "command": " ".join([*cmd[:-4], "-o", f"data/examples/{name}.pt"]),
            "sha256": file_sha256(path),
            "metrics": doc.get("metrics"),
            "torch_threads": 1 if "--threads" in args else None,
        }
        sys.stderr.write(f"{name}: {doc.get('metrics')}\n")
    prov.write_text(json.dumps(records, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
