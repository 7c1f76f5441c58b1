"""heads init outside PID 1: only --check (parse the module list and the
configuration layers, print what init would load and measure)."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import TempDirTest, main, run  # noqa: E402

SRCDIR = os.environ.get("HEADS_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))


class InitCommand(TempDirTest):
    def test_not_pid1_refuses_to_run(self):
        r = run("init")
        self.assertEqual(r.returncode, 2)
        self.assertIn("not PID 1", r.stderr)

    def test_check_lists_modules_in_order_and_configs(self):
        self.write("etc/modules", "# comment\n/lib/modules/k/a/virtio.ko\n\n"
                   "/lib/modules/k/b/usb-storage.ko quirks=1:2:u delay_use=1\n")
        self.write("etc/config", 'export CONFIG_BOOT_DEV="/dev/vda1"\n')
        self.write("etc/config.user", "CONFIG_X=y\n")
        r = run("init", "--check", "--root", self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[:2], ["module /lib/modules/k/a/virtio.ko",
                                     "module /lib/modules/k/b/usb-storage.ko quirks=1:2:u delay_use=1"])
        self.assertEqual(lines[2:], [f"config {self.tmp}/etc/config",
                                     f"config {self.tmp}/etc/config.user"])

    def test_check_malformed_module_list_names_file_and_line(self):
        self.write("etc/modules", "/lib/modules/k/ok.ko\n/lib/modules/../evil.ko\n")
        r = run("init", "--check", "--root", self.tmp)
        self.assertEqual(r.returncode, 2)
        self.assertIn("etc/modules:2:", r.stderr)
        self.assertIn("..", r.stderr)

    def test_check_relative_and_control_chars_refused(self):
        for body, why in [("virtio.ko\n", "absolute"), ("/x/a.ko\x01\n", "control"),
                          ("/x/a.ko arg\x1b\n", "control"), ("/x/.ko\n", "NAME.ko"),
                          ("/x/a.o\n", "NAME.ko")]:
            self.write("etc/modules", body)
            r = run("init", "--check", "--root", self.tmp)
            self.assertEqual(r.returncode, 2, body)
            self.assertIn(why, r.stderr, body)

    def test_check_malformed_config_exit_2(self):
        self.write("etc/config", 'CONFIG_A="unterminated\n')
        r = run("init", "--check", "--root", self.tmp)
        self.assertEqual(r.returncode, 2)
        self.assertIn("etc/config:", r.stderr)

    def test_board_module_list_of_the_payload_parses(self):
        # The list the payload builder writes has this format; the board
        # file itself is names, checked by the builder.
        names = [l.split()[0] for l in open(os.path.join(SRCDIR, "boards/qemu/modules"))
                 if l.strip() and not l.startswith("#")]
        self.assertIn("dm_crypt", names)
        self.assertIn("virtio_blk", names)
        body = "".join(f"/lib/modules/6.1.0/kernel/{n}.ko\n" for n in names)
        self.write("etc/modules", body)
        r = run("init", "--check", "--root", self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len([l for l in r.stdout.splitlines() if l.startswith("module ")]),
                         len(names))


if __name__ == "__main__":
    main()
