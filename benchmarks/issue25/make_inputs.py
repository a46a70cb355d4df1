import os
import struct
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, "tests")
from io_factories import replace_zip_entry, write_torchscript

D = "/tmp/i25/in"
memo = b"\x80\x02}r" + struct.pack("<I", 2**27) + b"."
Path(f"{D}/memo.pkl").write_bytes(memo)
write_torchscript(f"{D}/ts.pt", "gru")
replace_zip_entry(f"{D}/ts.pt", f"{D}/ts_memo.pt", "/data.pkl", memo)
# 250 keys viewing one LSTM-512 storage
lstm = torch.nn.LSTM(512, 512)
w = lstm.weight_hh_l0.detach()  # 2048x512 = 4 MB
sd = {f"layer{i}.weight_hh_l0": w for i in range(250)}
torch.save(sd, f"{D}/views.pt")
print(os.path.getsize(f"{D}/views.pt"))
# npy
np.save(f"{D}/be.npy", np.zeros((2, 50, 2), dtype=">f8"))


def npy_with_shape(path, shape):
    hdr = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}"
    hdr = hdr + " " * ((64 - (10 + len(hdr) + 1) % 64) % 64) + "\n"
    Path(path).write_bytes(
        b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode() + b"\0" * 64
    )


npy_with_shape(f"{D}/neg.npy", "(-1, 8)")
npy_with_shape(f"{D}/huge.npy", "(100000000000000000000000000, 8)")
# style sheets
for name, body in {
    "usetex": "text.usetex: True\n",
    "nan": "font.size: nan\n",
    "lw": "lines.linewidth: 1e308\n",
    "backend": "backend: TkAgg\n",
}.items():
    Path(f"{D}/{name}.mplstyle").write_text(body)
with open(f"{D}/big.mplstyle", "w") as f:
    line = "# " + "x" * 1000 + "\n"
    for _ in range(69_000):
        f.write(line)
