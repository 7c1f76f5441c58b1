import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import TempDirTest, main, run  # noqa: E402

BOARD = '''# qemu board defaults
export CONFIG_BOOT_DEV="/dev/vda1"   # the /boot partition
export CONFIG_BOARD_NAME='QEMU # TPM2'
CONFIG_TPM=y
'''


class ConfigCommand(TempDirTest):
    def test_get_with_quotes_and_comments(self):
        f = self.write("config", BOARD)
        r = run("config", "get", "CONFIG_BOOT_DEV", "--file", f)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "/dev/vda1\n")
        r = run("config", "get", "CONFIG_BOARD_NAME", "--file", f)
        self.assertEqual(r.stdout, "QEMU # TPM2\n")

    def test_layers_user_wins(self):
        b = self.write("config", BOARD)
        u = self.write("config.user", 'export CONFIG_BOOT_DEV="/dev/nvme0n1p1"\n')
        r = run("config", "get", "CONFIG_BOOT_DEV", "--file", b, "--file", u)
        self.assertEqual(r.stdout, "/dev/nvme0n1p1\n")

    def test_malformed_line_exit_2_with_file_line(self):
        f = self.write("bad", 'CONFIG_A=1\nCONFIG_B="unterminated\n')
        r = run("config", "get", "CONFIG_A", "--file", f)
        self.assertEqual(r.returncode, 2)
        self.assertIn(f"{f}:2: unterminated double quote", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_command_substitution_is_refused_not_run(self):
        marker = os.path.join(self.tmp, "pwned")
        f = self.write("evil", f'CONFIG_A="$(touch {marker})"\n')
        r = run("config", "get", "CONFIG_A", "--file", f)
        self.assertEqual(r.returncode, 2)
        self.assertIn(":1: '$' would be expanded", r.stderr)
        self.assertFalse(os.path.exists(marker))

    def test_missing_key_exit_1(self):
        f = self.write("config", BOARD)
        r = run("config", "get", "CONFIG_NOPE", "--file", f)
        self.assertEqual(r.returncode, 1)
        self.assertIn("CONFIG_NOPE is not set", r.stderr)

    def test_set_then_list(self):
        f = self.write("config.user", BOARD)
        r = run("config", "set", "CONFIG_BOOT_DEV", '/dev/sdb1 "x"', "--file", f)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run("config", "list", "--file", f)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines(), [
            'CONFIG_BOARD_NAME="QEMU # TPM2"',
            'CONFIG_BOOT_DEV="/dev/sdb1 \\"x\\""',
            'CONFIG_TPM="y"',
        ])
        with open(f) as fh:
            self.assertIn("# qemu board defaults\n", fh.read())

    def test_missing_file_is_usage_error(self):
        r = run("config", "get", "X", "--file", os.path.join(self.tmp, "none"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("no such file", r.stderr)


if __name__ == "__main__":
    main()
