"""The entry point of every Python test file: run its unittest cases and
report each one in TAP on stdout, for tools/test-summary.py to count.

    import heads_tap
    heads_tap.main()            # heads_test.main() and vm.main() call this

- stdout carries only TAP (`ok N - Class.test`, `not ok N - ...`,
  `ok N - ... # SKIP reason`, the plan `1..N` last); everything else the tests or their child
  processes print goes to stderr (fd 1 is pointed at fd 2), and unittest's
  usual verbose report is on stderr too.
- Every case is reported, also those that never ran: the cases of a class
  whose setUpClass skipped are skipped with its reason, those of a class
  whose setUpClass failed are failures; a failing tearDownClass or
  tearDownModule is a failed case of its own.
- Exit status (meson's `exitcode` protocol, so no meson.build needs a
  protocol): 1 if a case failed or nothing ran, 77 (meson's skip) if every
  case skipped, else 0. A file of skipped cases is never "passed".

Command line: test names as unittest takes them (`Class`, `Class.test_x`);
no names = every test of the module. `--shard I/N` runs the I-th (0-based)
of N shares of the test classes (sorted by name, dealt round robin), so one
slow file can be N meson tests run in parallel and a class added later is
always in exactly one share.
"""
import os
import sys
import unittest


def _case_name(test):
    tid = test.id()
    return tid[len("__main__."):] if tid.startswith("__main__.") else tid


def _iter_cases(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from _iter_cases(t)
        else:
            yield t


class _Result(unittest.TextTestResult):
    """unittest's verbose report (stderr) plus one TAP line per case."""

    def __init__(self, stream, descriptions, verbosity, tap=None, plan=()):
        super().__init__(stream, descriptions, verbosity)
        self.tap = tap
        self.n = 0
        self.outcome = {}          # case name -> (ok, directive text)
        self.plan = list(plan)
        self.class_skip = {}       # class id -> reason (setUpClass skipped)
        self.class_error = {}      # class id -> text (setUpClass failed)
        self.extra = []            # (name, ok, text): tearDownClass failures etc.
        self._sub_failed = set()

    def _emit(self, name, ok, directive=""):
        self.n += 1
        line = f"{'ok' if ok else 'not ok'} {self.n} - {name}"
        if directive:
            line += " # " + directive.replace("\n", " ")
        print(line, file=self.tap, flush=True)

    def _record(self, test, ok, directive=""):
        name = _case_name(test)
        if name not in self.outcome:
            self.outcome[name] = (ok, directive)
            self._emit(name, ok, directive)

    @staticmethod
    def _holder_scope(desc):
        # _ErrorHolder descriptions: "setUpClass (module.Class)",
        # "setUpModule (module)", "tearDownClass (module.Class)".
        what, _, rest = desc.partition(" ")
        scope = rest.strip("()")
        return what, scope[len("__main__."):] if scope.startswith("__main__.") else scope

    def _holder(self, test, ok, text, skip=False):
        what, scope = self._holder_scope(test.description)
        if what in ("setUpClass", "setUpModule"):
            (self.class_skip if skip else self.class_error)[scope] = text
        else:
            self.extra.append((f"{scope}.{what}" if scope else what, ok, text))

    def addSuccess(self, test):
        super().addSuccess(test)
        if _case_name(test) not in self._sub_failed:
            self._record(test, True)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        if isinstance(test, unittest.TestCase):
            self._record(test, False)
        else:
            self._holder(test, False, "failed")

    def addError(self, test, err):
        super().addError(test, err)
        if isinstance(test, unittest.TestCase):
            self._record(test, False)
        else:
            self._holder(test, False, f"error: {err[0].__name__}: {err[1]}")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        if isinstance(test, unittest.TestCase):
            self._record(test, True, "SKIP " + (reason or "skipped"))
        else:
            self._holder(test, True, reason or "skipped", skip=True)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._record(test, True)

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._record(test, False, "unexpected success")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._sub_failed.add(_case_name(test))

    def stopTest(self, test):
        super().stopTest(test)
        name = _case_name(test)
        if name in self._sub_failed and name not in self.outcome:
            self._record(test, False, "a subtest failed")

    def finish(self):
        """Cases that never ran (class or module setup skipped/failed), then
        the extra failures. Returns (passed, failed, skipped)."""
        for test in self.plan:
            name = _case_name(test)
            if name in self.outcome:
                continue
            mod = type(test).__module__
            cls = type(test).__qualname__ if mod == "__main__" else f"{mod}.{type(test).__qualname__}"
            if cls in self.class_skip or mod in self.class_skip:
                self._record(test, True, "SKIP " + self.class_skip.get(cls, self.class_skip.get(mod)))
            elif cls in self.class_error or mod in self.class_error:
                self._record(test, False, "setUp failed: " +
                             self.class_error.get(cls, self.class_error.get(mod)))
            else:
                self._record(test, False, "did not run")
        for name, ok, text in self.extra:
            self.outcome[name] = (ok, text)
            self._emit(name, ok, text)
        passed = sum(1 for ok, d in self.outcome.values() if ok and not d.startswith("SKIP"))
        skipped = sum(1 for ok, d in self.outcome.values() if ok and d.startswith("SKIP"))
        failed = sum(1 for ok, _ in self.outcome.values() if not ok)
        return passed, failed, skipped


def _shard(suite, spec):
    """The cases of the classes in share I of N (spec "I/N")."""
    i, _, n = spec.partition("/")
    i, n = int(i), int(n)
    if not 0 <= i < n:
        raise SystemExit(f"--shard {spec}: want I/N with 0 <= I < N")
    cases = list(_iter_cases(suite))
    classes = sorted({type(t).__qualname__ for t in cases})
    mine = set(classes[i::n])
    return unittest.TestSuite(t for t in cases if type(t).__qualname__ in mine)


def main(argv=None, module="__main__"):
    """Run the tests of `module` (or those named in argv) and exit with
    0 / 1 / 77 as described above."""
    args = list(sys.argv[1:] if argv is None else argv)
    shard = None
    if "--shard" in args:
        k = args.index("--shard")
        shard = args[k + 1]
        del args[k:k + 2]
    names = [a for a in args if not a.startswith("-")]
    sys.stdout.flush()
    tap = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)                        # prints and child processes -> stderr
    sys.stdout = sys.stderr
    loader = unittest.TestLoader()
    mod = sys.modules[module]
    suite = loader.loadTestsFromNames(names, mod) if names else loader.loadTestsFromModule(mod)
    if shard:
        suite = _shard(suite, shard)
    plan = list(_iter_cases(suite))
    runner = unittest.TextTestRunner(
        stream=sys.stderr, verbosity=2,
        resultclass=lambda s, d, v: _Result(s, d, v, tap=tap, plan=plan))
    result = runner.run(suite)
    passed, failed, skipped = result.finish()
    print(f"1..{result.n}", file=tap, flush=True)   # the plan, at the end
    print(f"cases: {passed} passed, {failed} failed, {skipped} skipped", file=sys.stderr)
    if not plan:
        print("no test case ran", file=sys.stderr)
        sys.exit(1)
    if failed:
        sys.exit(1)
    if skipped and not passed:
        sys.exit(77)
    sys.exit(0)
