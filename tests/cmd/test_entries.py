"""heads entries: output formats, hostile input, bounds, discovery."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import heads_test  # noqa: E402
from heads_test import run  # noqa: E402


class Entries(heads_test.TempDirTest):
    def boot(self):
        for f in ("vmlinuz-1", "initrd-1", "xen.gz", "isolinux/vmlinuz", "isolinux/initrd.img"):
            self.write(f, "x")
        return self.tmp

    def test_json_exact_keys_and_order(self):
        b = self.boot()
        self.write("grub/grub.cfg",
                   "menuentry 'A' { linux /vmlinuz-1 root=/dev/sda1   ro\n initrd /initrd-1 }\n"
                   "submenu 'S' { menuentry 'X' { multiboot2 /xen.gz placeholder\n"
                   " module2 /vmlinuz-1 root=x\n module2 /initrd-1\n } }\n")
        p = run("entries", "--boot", b, "--config", "grub/grub.cfg", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        j = json.loads(p.stdout)
        self.assertEqual([list(e.keys()) for e in j],
                         [["title", "kind", "kernel", "initrd", "cmdline", "modules"]] * 2)
        self.assertEqual(j[0], {"title": "A", "kind": "linux", "kernel": "/vmlinuz-1",
                                "initrd": ["/initrd-1"], "cmdline": "root=/dev/sda1 ro",
                                "modules": []})
        self.assertEqual(j[1], {"title": "S>X", "kind": "xen", "kernel": "/xen.gz",
                                "initrd": [], "cmdline": "placeholder",
                                "modules": [{"path": "/vmlinuz-1", "args": "root=x"},
                                            {"path": "/initrd-1", "args": ""}]})
        p = run("entries", "--boot", b, "--config", "grub/grub.cfg", "--lines")
        self.assertEqual(p.stdout.splitlines(), [
            "A|elf|kernel /vmlinuz-1|initrd /initrd-1|append root=/dev/sda1 ro",
            "S>X|xen|kernel /xen.gz placeholder|module /vmlinuz-1 root=x|module /initrd-1"])
        p = run("entries", "--boot", b, "--config", "grub/grub.cfg", "--default")
        self.assertEqual(p.stdout, "0\tA\n")
        p = run("entries", "--boot", b, "--config", "grub/grub.cfg")
        self.assertEqual(p.stdout, "1\tlinux\tA\n2\txen\tS>X\n")

    def test_hostile_text_stays_inert(self):
        b = self.boot()
        marker = os.path.join(self.tmp, "pwned")
        self.write("grub/grub.cfg",
                   "menuentry 'T $(touch %s) `touch %s`; touch %s' {\n"
                   "  linux /vmlinuz-1 a=$(touch %s) \"`touch %s`\" '; touch %s'\n"
                   "  initrd /initrd-1\n}\n" % ((marker,) * 6))
        self.write("isolinux/isolinux.cfg",
                   "label x\n menu label $(touch %s);`touch %s`\n kernel vmlinuz\n"
                   " append initrd=initrd.img a=$(touch %s) ; b\n" % ((marker,) * 3))
        for cfg in ("grub/grub.cfg", "isolinux/isolinux.cfg"):
            p = run("entries", "--boot", b, "--config", cfg, "--json")
            self.assertEqual(p.returncode, 0, p.stderr)
            j = json.loads(p.stdout)
            self.assertEqual(len(j), 1)
            self.assertIn("$(touch", j[0]["title"])
            self.assertIn("$(touch", j[0]["cmdline"])
        self.assertEqual(j[0]["title"], "$(touch %s);`touch %s`" % (marker, marker))
        self.assertFalse(os.path.exists(marker))

    def test_hostile_paths_stay_literal(self):
        b = self.boot()
        marker = os.path.join(self.tmp, "pwned")
        name = "vmlinuz-$(touch${IFS}%s);`touch${IFS}%s`" % (marker, marker)
        self.write(name.replace("/", "_"), "x")
        fname = name.replace("/", "_")
        # a path with whitespace cannot be carried faithfully: dropped, named
        self.write("vmlinuz x", "x")
        self.write("grub/grub.cfg", "menuentry 'p' { linux '/%s' a;b\n initrd /initrd-1 }\n"
                   "menuentry 'sp' { linux '/vmlinuz x' }\n" % fname)
        p = run("entries", "--boot", b, "--config", "grub/grub.cfg", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        j = json.loads(p.stdout)
        self.assertEqual(len(j), 1, p.stdout)
        self.assertIn("boot entry 'sp' dropped: path '/vmlinuz x' has whitespace", p.stderr)
        self.assertEqual(j[0]["kernel"], "/" + fname)
        self.assertEqual(j[0]["cmdline"], "a")  # ';' ends the command in GRUB
        p = run("kexec", "--boot", b, "--config", "grub/grub.cfg", "--entry", "1", "--dry-run")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("kernel: %s/%s\n" % (b, fname), p.stdout)
        self.assertFalse(os.path.exists(marker))

    def test_big_config_refused(self):
        b = self.boot()
        self.write("grub/grub.cfg", ("# padding\n" * (1024 * 1024)) + "menuentry x { linux /vmlinuz-1 }\n")
        p = run("entries", "--boot", b, "--config", "grub/grub.cfg", "--json")
        self.assertEqual(p.returncode, 1)
        self.assertIn("grub/grub.cfg: larger than 4194304 bytes", p.stderr)
        self.assertEqual(p.stdout, "")

    def test_include_loop_refused(self):
        b = self.boot()
        self.write("isolinux/isolinux.cfg", "include a.cfg\nlabel x\n kernel vmlinuz\n")
        self.write("isolinux/a.cfg", "include isolinux.cfg\n")
        p = run("entries", "--boot", b, "--config", "isolinux/isolinux.cfg", "--json")
        self.assertEqual(p.returncode, 1)
        self.assertIn("/isolinux/isolinux.cfg: INCLUDE cycle", p.stderr)
        self.write("grub/grub.cfg", "source /grub/grub.cfg\n")
        p = run("entries", "--boot", b, "--config", "grub/grub.cfg", "--json")
        self.assertEqual(p.returncode, 1)
        self.assertIn("nested too deeply", p.stderr)

    def test_missing_file_dropped_with_warning(self):
        b = self.boot()
        self.write("grub/grub.cfg", "menuentry 'gone' { linux /vmlinuz-9\n initrd /initrd-1 }\n"
                                    "menuentry 'ok' { linux /vmlinuz-1 }\n")
        p = run("entries", "--boot", b, "--config", "grub/grub.cfg", "--json")
        self.assertEqual(p.returncode, 0)
        self.assertEqual([e["title"] for e in json.loads(p.stdout)], ["ok"])
        self.assertIn("'gone' dropped: /vmlinuz-9 not found", p.stderr)

    def test_scan_discovers_and_skips_efi(self):
        b = self.boot()
        self.write("grub/grub.cfg", "menuentry 'main' { linux /vmlinuz-1 }\n")
        self.write("EFI/debian/grub.cfg", "menuentry 'efi' { linux /vmlinuz-1 }\n")
        self.write("isolinux/isolinux.cfg", "label iso\n kernel vmlinuz\n")
        p = run("entries", "--boot", b, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([e["title"] for e in json.loads(p.stdout)], ["main", "iso"])

    def test_usage(self):
        self.assertEqual(run("entries", "--json", "--lines").returncode, 2)
        self.assertEqual(run("entries", "--format", "grub").returncode, 2)
        self.assertEqual(run("entries", "--config", "x", "--format", "nope").returncode, 2)
        self.assertEqual(run("entries", "extra").returncode, 2)
        p = run("entries", "--boot", self.tmp, "--config", "nothere.cfg")
        self.assertEqual(p.returncode, 1)
        self.assertIn("nothere.cfg", p.stderr)


if __name__ == "__main__":
    heads_test.main()
