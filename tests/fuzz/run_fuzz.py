#!/usr/bin/env python3
"""run_fuzz.py EXE WORK_CORPUS SEED_CORPUS [libFuzzer flags...]
Create WORK_CORPUS (in the build dir) and run the libFuzzer binary with it
first, so new inputs are written there and the committed seed corpus stays
untouched. Exit status is libFuzzer's (non-zero on a crash, leak or hang)."""
import os
import sys

exe, work, seed, *flags = sys.argv[1:]
os.makedirs(work, exist_ok=True)
os.execv(exe, [exe, *flags, work, seed])
