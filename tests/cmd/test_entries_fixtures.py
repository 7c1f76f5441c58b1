"""Every real boot configuration in tests/data/bootcfg (see its README) parsed by
`heads entries --boot DIR --config PATH --json` must equal EXPECTED.json, and
`--default` must name the expected default entry."""
import glob
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import heads_test  # noqa: E402

FIXTURES = os.path.join(os.environ.get("HEADS_SRCDIR", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))), "tests", "data", "bootcfg")

FORMATS = {"grub": "grub", "grub+blscfg": "grub", "bls": "bls",
           "isolinux": "syslinux", "extlinux": "syslinux", "grub-legacy": "grub-legacy"}


def cases():
    for exp in sorted(glob.glob(os.path.join(FIXTURES, "*", "EXPECTED.json"))):
        with open(exp) as f:
            d = json.load(f)
        for i, c in enumerate(d["configs"]):
            yield d["case"], i, os.path.join(os.path.dirname(exp), "boot"), c


def normalise(entries):
    return [{k: e[k] for k in ("title", "kind", "kernel", "initrd", "cmdline", "modules")}
            for e in entries]


# The README allows either reading of GRUB's unquoted `\x20` for this token.
ALT = {"inst.stage2=hd:LABEL=CentOS\\x207\\x20x86_64": "inst.stage2=hd:LABEL=CentOSx207x20x86_64"}


def same_cmdline(a, b):
    for k, v in ALT.items():
        a, b = a.replace(k, v), b.replace(k, v)
    return a == b


class Fixtures(unittest.TestCase):
    def test_fixtures_present(self):
        self.assertGreaterEqual(len(list(cases())), 30, FIXTURES)

    def check(self, name, idx, boot, c):
        args = ["entries", "--boot", boot, "--config", c["config"],
                "--format", FORMATS[c["format"]]]
        p = heads_test.run(*args, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        got = normalise(json.loads(p.stdout))
        want = normalise(c["entries"])
        self.assertEqual(len(got), len(want),
                         "%s[%d]: titles got %s want %s" % (name, idx, [g["title"] for g in got],
                                                            [w["title"] for w in want]))
        for g, w in zip(got, want):
            gc, wc = g.pop("cmdline"), w.pop("cmdline")
            self.assertTrue(same_cmdline(gc, wc), "%s: %s\n got  %r\n want %r" % (name, w["title"], gc, wc))
            self.assertEqual(g, w, name)
        p = heads_test.run(*args, "--default")
        self.assertEqual(p.returncode, 0, p.stderr)
        path, title = p.stdout.rstrip("\n").split("\t", 1)
        self.assertEqual(title, c["default"]["title"], name)
        if c["format"] in ("grub", "isolinux", "extlinux", "grub-legacy"):
            self.assertEqual(path, c["default"]["path"], name)


def _make(name, idx, boot, c):
    def t(self):
        self.check(name, idx, boot, c)
    return t


for _name, _idx, _boot, _c in cases():
    setattr(Fixtures, "test_%s_%d" % (_name.replace("-", "_").replace(".", "_"), _idx),
            _make(_name, _idx, _boot, _c))

if __name__ == "__main__":
    heads_test.main()
