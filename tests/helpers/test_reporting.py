"""The test reporting itself (suite 'unit'): tests/helpers/heads_tap.py
(each case in TAP, exit 0/1/77) and tools/test-summary.py (cases added up,
skips by name, allowed-skips under CI, phase failures)."""
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))
SUMMARY = os.path.join(SRCDIR, "tools", "test-summary.py")
sys.path.insert(0, HERE)
import heads_tap  # noqa: E402

SAMPLE = textwrap.dedent('''
    import subprocess, sys, unittest
    sys.path.insert(0, {here!r})
    import heads_tap

    class A(unittest.TestCase):
        def test_ok(self):
            print("noise"); subprocess.run(["echo", "child noise"])
        def test_fail(self):
            self.assertEqual(1, 2)
        def test_skip(self):
            self.skipTest("no tool")
        def test_subtests(self):
            for i in range(3):
                with self.subTest(i=i):
                    self.assertLess(i, 2)

    class SkippedClass(unittest.TestCase):
        @classmethod
        def setUpClass(cls):
            raise unittest.SkipTest("needs root")
        def test_1(self): pass
        def test_2(self): pass

    class BrokenClass(unittest.TestCase):
        @classmethod
        def setUpClass(cls):
            raise RuntimeError("boom")
        def test_1(self): pass

    class BrokenTeardown(unittest.TestCase):
        @classmethod
        def tearDownClass(cls):
            raise RuntimeError("td")
        def test_1(self): pass

    if __name__ == "__main__":
        heads_tap.main()
''')


def summary(builds, env=None, phases=None):
    e = dict(os.environ)
    e.pop("CI", None)
    e.update(env or {})
    args = [sys.executable, SUMMARY] + (["--phases", phases] if phases else []) + builds
    return subprocess.run(args, capture_output=True, text=True, env=e)


class Tap(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="heads-reporting-")
        self.script = os.path.join(self.tmp.name, "sample.py")
        with open(self.script, "w") as f:
            f.write(SAMPLE.format(here=HERE))

    def tearDown(self):
        self.tmp.cleanup()

    def run_sample(self, *names):
        return subprocess.run([sys.executable, self.script, *names], capture_output=True, text=True)

    def test_every_case_reported(self):
        r = self.run_sample()
        self.assertEqual(r.returncode, 1)
        got = {c: (s, d) for c, s, d in load_summary_module().tap_cases(r.stdout)}
        self.assertEqual(got["A.test_ok"], ("pass", ""))
        self.assertEqual(got["A.test_fail"][0], "fail")
        self.assertEqual(got["A.test_skip"], ("skip", "no tool"))
        self.assertEqual(got["A.test_subtests"][0], "fail")
        self.assertEqual(got["SkippedClass.test_1"], ("skip", "needs root"))
        self.assertEqual(got["SkippedClass.test_2"], ("skip", "needs root"))
        self.assertEqual(got["BrokenClass.test_1"][0], "fail")
        self.assertEqual(got["BrokenTeardown.test_1"][0], "pass")
        self.assertEqual(got["BrokenTeardown.tearDownClass"][0], "fail")
        self.assertEqual(len(got), 9)
        # stdout is TAP only; what the tests and their children print is on stderr
        self.assertNotIn("noise", r.stdout)
        self.assertIn("child noise", r.stderr)
        self.assertTrue(r.stdout.rstrip().endswith("1..9"), r.stdout)

    def test_exit_status(self):
        self.assertEqual(self.run_sample("A.test_ok").returncode, 0)
        self.assertEqual(self.run_sample("A.test_ok", "A.test_skip").returncode, 0)
        # every case skipped: meson's skip, never a pass
        self.assertEqual(self.run_sample("SkippedClass").returncode, 77)
        self.assertEqual(self.run_sample("A.test_skip").returncode, 77)
        self.assertEqual(self.run_sample("BrokenClass").returncode, 1)
        self.assertEqual(self.run_sample("BrokenTeardown").returncode, 1)

    def test_nothing_ran_fails(self):
        with open(self.script, "w") as f:
            f.write(f"import sys\nsys.path.insert(0, {HERE!r})\nimport heads_tap\nheads_tap.main()\n")
        self.assertEqual(self.run_sample().returncode, 1)


def load_summary_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("test_summary", SUMMARY)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


class Summary(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="heads-summary-")
        self.build = os.path.join(self.tmp.name, "build")
        os.makedirs(os.path.join(self.build, "meson-logs"))

    def tearDown(self):
        self.tmp.cleanup()

    def log(self, entries, base="testlog-x"):
        path = os.path.join(self.build, "meson-logs", base + ".json")
        with open(path, "w") as f:
            for name, result, stdout in entries:
                f.write(json.dumps({"name": name, "result": result, "starttime": 1,
                                    "stdout": stdout}) + "\n")
        return path

    def test_cases_counted_and_skips_named(self):
        self.log([("heads:unit / py", "FAIL", "ok 1 - A.a\nnot ok 2 - A.b\nok 3 - A.c # SKIP no tool\n1..3\n"),
                  ("heads:unit / cm", "OK", "1..2\nok 1 - t1\nnot ok 2 # SKIP t2\n# ok - tests\n"),
                  ("heads:fuzz / fz", "OK", ""),
                  ("heads:vm / vmx", "SKIP", ""),
                  ("heads:vm / slow", "TIMEOUT", "ok 1 - S.a\n")])
        r = summary([self.build])
        self.assertEqual(r.returncode, 1)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[-1], "4 passed, 2 failed, 3 skipped")
        self.assertIn(f"SKIPPED: {self.build}: py/A.c: no tool", lines)
        self.assertIn(f"SKIPPED: {self.build}: cm/t2: t2", lines)
        self.assertIn(f"SKIPPED: {self.build}: vmx: exit 77, no case reported", lines)
        self.assertIn(f"FAILED: {self.build}: py/A.b", lines)
        self.assertIn(f"FAILED: {self.build}: slow: TIMEOUT after 1 case(s)", lines)

    def test_all_passed(self):
        self.log([("heads:unit / py", "OK", "ok 1 - A.a\nok 2 - A.b\n1..2\n")])
        r = summary([self.build])
        self.assertEqual((r.returncode, r.stdout.splitlines()[-1]), (0, "2 passed, 0 failed, 0 skipped"))

    def test_skip_fails_under_ci_unless_allowed(self):
        self.log([("heads:luks / lk", "OK", "ok 1 - A.a\nok 2 - A.b # SKIP needs root\n")])
        r = summary([self.build])
        self.assertEqual((r.returncode, r.stdout.splitlines()[-1]), (0, "1 passed, 0 failed, 1 skipped"))
        r = summary([self.build], env={"CI": "true"})
        self.assertEqual((r.returncode, r.stdout.splitlines()[-1]), (1, "1 passed, 1 failed, 0 skipped"))
        self.assertIn("not in tests/allowed-skips.txt", r.stdout)

    def test_allowed_skips_file(self):
        m = load_summary_module()
        with open(os.path.join(self.tmp.name, "allowed.txt"), "w") as f:
            f.write("# comment\n\nlk/A.* the reason\nnoreason\n")
        m.ALLOWED_SKIPS = f.name
        allowed, errors = m.load_allowed()
        self.assertEqual(allowed, [("lk/A.*", "the reason")])
        self.assertEqual(len(errors), 1)
        # the repository's list is well-formed (and empty today)
        m2 = load_summary_module()
        self.assertEqual(m2.load_allowed(), ([], []))

    def test_no_log_and_failed_phase(self):
        log = self.log([("heads:unit / py", "OK", "ok 1 - A.a\n")])
        phases = os.path.join(self.tmp.name, "phases.tsv")
        with open(phases, "w") as f:
            f.write(f"build\t10.0\t2\nunit\t5.0\t0\t{log}\nvm\t1.0\t1\t{self.build}/meson-logs/none.json\n")
        r = summary([self.build, os.path.join(self.tmp.name, "build-missing")], phases=phases)
        self.assertEqual(r.returncode, 1)
        self.assertIn("FAILED: phase: build: exited 2", r.stdout)
        self.assertIn("FAILED: phase: vm: no test log", r.stdout)
        self.assertIn("(no test log)", r.stdout)
        self.assertIn("phase times (wall): build 10 s (exit 2), unit 5 s, vm 1 s (exit 1)", r.stdout)
        self.assertEqual(r.stdout.splitlines()[-1], "1 passed, 3 failed, 0 skipped")


if __name__ == "__main__":
    heads_tap.main()
