#!/bin/bash
# the reproducible items (not the interrupt ones); run from a worktree with venv + PYTHONPATH set
H=$(dirname "$0")/harness.sh; I=/tmp/i25/in; G=$PWD/data/examples/rnn_adding.pt; R="nice -n 10 rnndyn"
python3 - <<'PY' &
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 18999)); s.listen(8)
s.settimeout(400)
while True:
    try: c, _ = s.accept()
    except Exception: break
    c.sendall(b"SSH-2.0-OpenSSH_9.6\r\n" + b"\xff" * 64); threading.Timer(30, c.close).start()
PY
SRV=$!
sleep 1
$H "1 bench --seeds 1e9" 60 $R bench --tasks parity --archs rnn --inits default --seeds 1000000000 --epochs 1 --hidden 4 --out b1
$H "2 study --per-group 1e9" 60 $R study regression-vs-classification --archs gru --per-group 1000000000 --epochs 1 --hidden 4 --out s1
$H "3a memo pickle .pkl" 60 $R analyze $I/memo.pkl
$H "3b memo TorchScript" 60 $R analyze $I/ts_memo.pt
$H "4 250 views state dict" 120 $R analyze $I/views.pt
$H "5a train -H 100000" 60 $R train -t parity -a rnn -H 100000 -e 1 -o m.pt
$H "5b bench --hidden 1e8" 60 $R bench --tasks parity --archs rnn --inits default --seeds 1 --epochs 1 --hidden 100000000 --out b2
$H "5c train --num-layers 1e8" 60 $R train -t parity -a rnn -H 4 -e 1 --num-layers 100000000 -o m.pt
$H "6a cluster non-Dask" 90 $R bench --tasks parity --archs rnn --inits default --seeds 1 --epochs 1 --hidden 4 --cluster tcp://127.0.0.1:18999 --out b3
$H "6b cluster tcp://[::1" 60 $R bench --tasks parity --archs rnn --inits default --seeds 1 --epochs 1 --hidden 4 --cluster 'tcp://[::1' --out b4
touch /tmp/i25/afile
$H "7a snapshots under file" 60 $R train -t parity -a rnn -H 4 -e 1 --save-every 1 --snapshots /tmp/i25/afile/snaps -o m.pt
$H "7b snapshots name 300" 60 $R train -t parity -a rnn -H 4 -e 1 --save-every 1 --snapshots $(printf 'x%.0s' $(seq 300)) -o m.pt
$H "9a style usetex" 60 $R analyze $G --style $I/usetex.mplstyle --out o1
$H "9b style font.size nan" 60 $R analyze $G --style $I/nan.mplstyle --out o2
$H "9c style linewidth 1e308" 60 $R analyze $G --style $I/lw.mplstyle --out o3
$H "10a --version >/dev/full" 30 bash -c "rnndyn --version >/dev/full"
$H "10b --help >/dev/full" 30 bash -c "rnndyn --help >/dev/full"
$H "11 big-endian probe npy" 60 $R decay $G --probe $I/be.npy --steps 5
$H "12a npy shape (-1,8)" 60 $R decay $G --probe $I/neg.npy --steps 5
$H "12b npy dim 1e26" 60 $R decay $G --probe $I/huge.npy --steps 5
$H "15 68 MB style sheet" 60 $R analyze $G --style $I/big.mplstyle --out o4
$H "16a style backend: warn" 60 $R analyze $G --style $I/backend.mplstyle --out o5
$H "16b track A A --out" 120 $R track $G $G --out o6
$H "17 --cluster local:16" 120 $R bench --tasks parity --archs rnn --inits default --seeds 1 --epochs 1 --hidden 4 --cluster local:16 --out b5
$H "18a track --threshold nan" 60 $R track $G $PWD/data/examples/lstm_sine.pt --threshold nan
$H "18b fixedpoints --tol nan" 60 $R fixedpoints $G --tol nan --n-inits 8
kill $SRV 2>/dev/null
