"""What the NumPy bench scripts share: the BLAS they run on, and --serve, which
times blocks of steps on request so bench/numpy-peer.mjs can interleave them
with simdnn's own blocks (a phase of the host then weighs on both sides alike)."""
import ctypes
import glob
import json
import os
import sys
import time

import numpy as np


def blas_info():
    """NumPy's version, OpenBLAS's kernel and threads: via threadpoolctl if present, else the library itself."""
    return f"numpy {np.__version__}, {_openblas()}"


def _openblas():
    try:
        from threadpoolctl import threadpool_info
        for lib in threadpool_info():
            if lib.get("internal_api") == "openblas":
                return f"OpenBLAS {lib.get('version')} {lib.get('architecture')}, {lib.get('num_threads')} thread(s)"
    except ImportError:
        pass
    for path in glob.glob(os.path.join(os.path.dirname(np.__file__), "..", "*.libs", "*openblas*")):
        lib = ctypes.CDLL(path)
        for name in ("scipy_openblas_get_corename64_", "openblas_get_corename64_", "openblas_get_corename"):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                return f"OpenBLAS {fn().decode()}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}"
    return "BLAS unknown"


def serve(step, warm_s):
    """Runs `step` (one step; returns its timed seconds) for warm_s, prints {"ready": true, "blas": ...},
    then for each line of stdin (a budget in ms, and optionally a wake-up in ms) runs steps untimed for
    the wake-up (one at least, if one is given; bench/threads.bench.mjs WAKE_MS), then until their time
    reaches the budget (one at least), and prints {"ms": mean ms per timed step, "steps": n, "untimed": m}.
    Ends at the end of stdin."""
    warm = 0.0
    while warm < warm_s:
        warm += step()
    print(json.dumps({"ready": True, "blas": blas_info()}), flush=True)
    for line in sys.stdin:
        fields = line.split()
        budget = float(fields[0]) / 1000
        untimed = 0
        if len(fields) > 1 and float(fields[1]) > 0:
            wake_end = time.perf_counter() + float(fields[1]) / 1000
            while untimed < 1 or time.perf_counter() < wake_end:
                step()
                untimed += 1
        steps, total = 0, 0.0
        while steps < 1 or total < budget:
            total += step()
            steps += 1
        print(json.dumps({"ms": total * 1000 / steps, "steps": steps, "untimed": untimed}), flush=True)
