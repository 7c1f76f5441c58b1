#!/usr/bin/env python3
"""Sum the results of `meson test` runs into the closing line
`N passed, N failed, N skipped`, where N counts test CASES.

    tools/test-summary.py [--phases FILE] BUILD_DIR...

Reads every BUILD_DIR/meson-logs/testlog*.json (one per `meson test
--logbase`; a test run twice in one build counts once, its latest run).
A test's cases are the TAP lines on its stdout: Python test files print
them through tests/helpers/heads_tap.py, cmocka programs because the test
environment sets CMOCKA_MESSAGE_OUTPUT=TAP. A test that prints no TAP (a
fuzz target) is one case, its meson result. A test meson saw fail (exit
status, timeout, crash) without a failed case counts one failed case more.

Skips are listed by name with their reason. Under CI (CI=true: root, the
packages of `make deps`) a skip not listed in tests/allowed-skips.txt is a
failure. --phases FILE (written by tools/check-phase, one line per phase:
name, wall seconds, exit status, the test logs it writes) adds the phase
times; a phase that exited non-zero with no failed case to show for it
(a build, `make deps`) is a failure.

Exit 1 if anything failed or nothing ran.
"""
import fnmatch
import glob
import json
import os
import re
import sys
import time

SRCDIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALLOWED_SKIPS = os.path.join(SRCDIR, "tests", "allowed-skips.txt")
BAD = ("FAIL", "TIMEOUT", "ERROR", "UNEXPECTEDPASS", "INTERRUPT")
TAP_LINE = re.compile(r"^(ok|not ok)\b[ \t]*(\d+)?[ \t]*(?:-[ \t]*)?([^#]*?)[ \t]*(?:#[ \t]*(.*))?$")


def tap_cases(stdout):
    """[(case, status, detail)] from TAP lines; status pass/fail/skip."""
    out = []
    for line in (stdout or "").splitlines():
        m = TAP_LINE.match(line)
        if not m:
            continue
        ok, num, desc, directive = m.group(1) == "ok", m.group(2), m.group(3), m.group(4) or ""
        name = desc or f"case {num}"
        word = directive.split(None, 1)
        kind = word[0].upper() if word else ""
        rest = word[1] if len(word) > 1 else ""
        if kind.startswith("SKIP"):
            # cmocka 1.1 writes `not ok N # SKIP test_name`
            out.append((desc or rest or name, "skip", rest or "skipped"))
        elif kind == "TODO":
            out.append((name, "pass", "TODO"))
        else:
            out.append((name, "pass" if ok else "fail", directive))
    return out


def load_build(build):
    """{test name: (suite, meson result, cases, log path)} for a build dir,
    or None when it has no test log."""
    logs = sorted(glob.glob(os.path.join(build, "meson-logs", "testlog*.json")))
    if not logs:
        return None
    tests = {}
    for path in logs:
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                t = json.loads(line)
                full = t.get("name", "?")
                # "project:suite / name" (meson 1.0)
                suite, _, name = full.partition(" / ")
                suite = suite.split(":", 1)[-1]
                if not name:
                    name, suite = full, ""
                prev = tests.get(name)
                if prev and prev["start"] > t.get("starttime", 0):
                    continue
                tests[name] = {"suite": suite, "result": t.get("result"), "log": path,
                               "start": t.get("starttime", 0),
                               "cases": tap_cases(t.get("stdout"))}
    return tests


def load_allowed():
    """[(pattern, reason)] from tests/allowed-skips.txt; malformed lines are
    returned as errors."""
    allowed, errors = [], []
    if not os.path.exists(ALLOWED_SKIPS):
        return allowed, [f"{ALLOWED_SKIPS} is missing"]
    with open(ALLOWED_SKIPS) as f:
        for i, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 1)
            if len(parts) < 2 or not parts[1].strip():
                errors.append(f"tests/allowed-skips.txt:{i}: no reason given for {parts[0]!r}")
                continue
            allowed.append((parts[0], parts[1].strip()))
    return allowed, errors


def load_phases(path):
    phases = []
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                fields = line.rstrip("\n").split("\t")
                if len(fields) >= 3:
                    phases.append({"name": fields[0], "seconds": float(fields[1]),
                                   "rc": int(fields[2]), "logs": [x for x in fields[3:] if x]})
    return phases


def main(argv):
    phases_file = None
    if len(argv) >= 2 and argv[0] == "--phases":
        phases_file, argv = argv[1], argv[2:]
    ci = os.environ.get("CI", "").lower() in ("true", "1", "yes")
    allowed, errors = load_allowed()
    passed = 0
    failures, skips = [], []      # (build, id, detail)
    failed_logs = set()           # test logs that hold a failure

    for build in argv:
        tests = load_build(build)
        if tests is None:
            failures.append((build, "(no test log)", "the build or `meson test` did not run"))
            continue
        for name in sorted(tests, key=lambda n: (tests[n]["suite"], n)):
            t = tests[name]
            res = t["result"]
            cases = t["cases"]
            if not cases:
                status = "pass" if res in ("OK", "EXPECTEDFAIL") else "skip" if res == "SKIP" else "fail"
                cases = [(None, status, "exit 77, no case reported" if res == "SKIP" else res)]
            nfail = 0
            for case, status, detail in cases:
                cid = f"{name}/{case}" if case else name
                if status == "pass":
                    passed += 1
                elif status == "skip":
                    skips.append((build, cid, detail))
                else:
                    failures.append((build, cid, detail))
                    nfail += 1
            if res in BAD and nfail == 0:
                failures.append((build, name, f"{res} after {len(cases)} case(s)"))
                nfail = 1
            if nfail:
                failed_logs.add(os.path.abspath(t["log"]))

    # Skips: printed by name; under CI, only those in tests/allowed-skips.txt.
    skipped = 0
    for build, cid, reason in skips:
        why = next((r for p, r in allowed if fnmatch.fnmatchcase(cid, p)), None)
        if ci and why is None:
            failures.append((build, cid, f"skipped under CI ({reason}); not in tests/allowed-skips.txt"))
            continue
        skipped += 1
        print(f"SKIPPED: {build}: {cid}: {reason}" + (f" [allowed: {why}]" if why else ""))
    for e in errors:
        failures.append(("tests", "allowed-skips.txt", e))

    phases = load_phases(phases_file)
    for ph in phases:
        logs = [os.path.abspath(p) for p in ph["logs"]]
        missing = [p for p in logs if not os.path.exists(p)]
        if missing:
            failures.append(("phase", ph["name"], f"no test log {', '.join(missing)} (exit {ph['rc']})"))
        elif ph["rc"] != 0 and not any(p in failed_logs for p in logs):
            failures.append(("phase", ph["name"], f"exited {ph['rc']}"))

    for build, cid, detail in failures:
        print(f"FAILED: {build}: {cid}" + (f": {detail}" if detail else ""))
    if phases:
        # `make check` writes FILE.start (epoch seconds) when it begins: some
        # phases overlap (vm runs beside asan and fuzz), so the run's wall
        # time is measured, not summed
        total, how = sum(p["seconds"] for p in phases), "sum of phases"
        try:
            with open(phases_file + ".start") as f:
                total, how = time.time() - float(f.read().strip()), "wall"
        except (OSError, ValueError):
            pass
        print("phase times (wall): " + ", ".join(
            f"{p['name']} {p['seconds']:.0f} s" + ("" if p["rc"] == 0 else f" (exit {p['rc']})")
            for p in phases) + f"; total {total / 60:.1f} min ({how})")
    print(f"{passed} passed, {len(failures)} failed, {skipped} skipped")
    return 1 if failures or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
