import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

root = sys.argv[1]
n = int(sys.argv[2])
env = dict(os.environ, PYTHONPATH=f"{root}:{root}/cli")
tb = 0
codes = []
for _ in range(n):
    out = tempfile.mkdtemp(dir="/tmp/i25")
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rnndyn_cli.app",
            "bench",
            "--tasks",
            "parity,adding",
            "--archs",
            "rnn",
            "--inits",
            "default",
            "--seeds",
            "2",
            "--epochs",
            "1",
            "--hidden",
            "4",
            "--jobs",
            "2",
            "--out",
            out + "/b",
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
        cwd=root,
    )
    time.sleep(random.uniform(1.5, 7.0))
    os.killpg(p.pid, signal.SIGINT)
    try:
        _, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        _, err = p.communicate()
    t = b"Traceback" in err or b"KeyboardInterrupt" in err
    tb += t
    codes.append(p.returncode)
    if t:
        print(err.decode()[-600:])
    shutil.rmtree(out, ignore_errors=True)
print(f"{root}: {tb}/{n} with a traceback; exit codes {codes}")
