# CPU-bound Python workload for Debian's /usr/bin/python3 (built without frame pointers): about 2/3 of its time
# in integers() and 1/3 in floats(), both under run(). A native profiler sees the interpreter's C functions
# (_PyEval_EvalFrameDefault, integer and float arithmetic) between main and the thread root, _start.
# Usage: /usr/bin/python3 pysplit.py SECONDS — prints its pid, then burns one core for SECONDS.
import os
import sys
import time


def integers(n):
    x = 17
    for i in range(n):
        x = (x * 31 + i) % 1000003
    return x


def floats(n):
    x = 0.5
    for i in range(n):
        x = (x * 1.000001 + 0.25) % 7.5
    return x


def run(seconds):
    end = time.monotonic() + seconds
    sink = 0
    while time.monotonic() < end:
        sink += integers(20000)
        sink += floats(10000)
    return sink


if __name__ == "__main__":
    print(os.getpid(), flush=True)
    run(float(sys.argv[1]) if len(sys.argv) > 1 else 10)
