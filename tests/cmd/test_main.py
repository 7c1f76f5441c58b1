import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from heads_test import TempDirTest, main, run, HEADS  # noqa: E402
import subprocess  # noqa: E402


class Main(TempDirTest):
    def test_help_lists_commands(self):
        r = run("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("Usage: heads <command>", r.stdout)
        self.assertIn("config", r.stdout)

    def test_command_help(self):
        r = run("config", "--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("heads config get KEY", r.stdout)

    def test_unknown_command_is_usage_error(self):
        r = run("no-such-command")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown command", r.stderr)

    def test_no_args_is_usage_error(self):
        r = run()
        self.assertEqual(r.returncode, 2)

    def test_multicall_by_name(self):
        link = os.path.join(self.tmp, "config")
        os.symlink(HEADS, link)
        f = self.write("c", "CONFIG_X=1\n")
        r = subprocess.run([link, "get", "CONFIG_X", "--file", f],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "1\n")


if __name__ == "__main__":
    main()
