import os
import sys

import rnndyn.outputs.staging as st

real = os.replace
n = {"k": 0}


def dying(src, dst, *a, **k):
    real(src, dst, *a, **k)
    if ".rnndyn-staging-" in str(src) and "/" in str(src).split(".rnndyn-staging-")[1]:
        n["k"] += 1
    if n["k"] == 2:
        os._exit(137)  # as SIGKILL: no finally, no cleanup


st.os.replace = dying
from rnndyn_cli.app import main  # noqa: E402 (after the patch above)

sys.argv = ["rnndyn", *sys.argv[1:]]
main()
