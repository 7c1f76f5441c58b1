"""The newt back-end on a real terminal: tmux runs ui-demo, we read the
screen (text and colours) and type keys."""
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "helpers"))
import heads_tap  # noqa: E402

DEMO = sys.argv.pop(1) if len(sys.argv) > 1 else os.environ.get("UI_DEMO")


class Newt(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="heads-newt-")
        self.sock = os.path.join(self.tmp.name, "tmux.sock")
        self.out = os.path.join(self.tmp.name, "out")

    def tearDown(self):
        subprocess.run(["tmux", "-S", self.sock, "kill-server"], capture_output=True)
        self.tmp.cleanup()

    def tmux(self, *args):
        return subprocess.run(["tmux", "-S", self.sock, *args], capture_output=True,
                              text=True, check=True).stdout

    def screen(self, colours=False):
        return self.tmux("capture-pane", "-p", *(["-e"] if colours else []), "-t", "demo")

    def wait_for(self, text, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            s = self.screen()
            if text in s:
                return s
            time.sleep(0.1)
        self.fail("%r not on screen:\n%s" % (text, self.screen()))

    def result(self):
        with open(self.out) as f:
            return f.read().splitlines()

    def test_widgets(self):
        self.tmux("new-session", "-d", "-s", "demo", "-x", "100", "-y", "30",
                  "env", "TERM=xterm-256color", DEMO, self.out)
        s = self.wait_for("Demo | Heads Boot Menu")
        # Status on the root line, items with their keys.
        self.assertIn("Demo Board |", s.splitlines()[0])
        self.assertIn("| TOTP: 123456 | HOTP: Success", s.splitlines()[0])
        self.assertIn("d  Default boot", s)
        self.assertIn("p  Power Off", s)
        # Error screen: red root background (SGR 41 or 48;5;1).
        c = self.screen(colours=True)
        self.assertRegex(c.splitlines()[0], r"\x1b\[(4|10)1m", "root line not red")
        # Typing a key moves the selection; Enter confirms.
        self.tmux("send-keys", "-t", "demo", "o")
        time.sleep(0.3)
        self.tmux("send-keys", "-t", "demo", "Enter")
        s = self.wait_for("Proceed with the demo?")
        c = self.screen(colours=True)
        self.assertRegex(c.splitlines()[0], r"\x1b\[(4|10)3m", "root line not yellow")
        self.assertEqual(self.result()[0], "menu 2")
        # Yes/no: Tab to No, Enter.
        self.tmux("send-keys", "-t", "demo", "Tab", "Enter")
        self.wait_for("Type a word")
        self.tmux("send-keys", "-t", "demo", "BSpace", "BSpace", "BSpace", "BSpace",
                  "BSpace", "BSpace", "BSpace", "hello", "Enter")
        self.wait_for("Passphrase:")
        self.tmux("send-keys", "-t", "demo", "s3cr3t", "Enter")
        # A long progress text: clipped at the start, the figures stay
        # inside the gauge window (its right border follows them).
        s = self.wait_for("ETA 0:08")
        line = next(l for l in s.splitlines() if "ETA 0:08" in l)
        self.assertIn("...", line)
        self.assertNotIn("a-very-long-volume", line)
        self.assertRegex(line, r"ETA 0:08\s*[│|x]")
        self.wait_for("All widgets shown.")
        # The passphrase was never echoed.
        self.assertNotIn("s3cr3t", self.tmux("capture-pane", "-p", "-S", "-100", "-t", "demo"))
        self.tmux("send-keys", "-t", "demo", "Enter")
        end = time.time() + 10
        while time.time() < end and len(self.result()) < 5:
            time.sleep(0.1)
        self.assertEqual(self.result(), ["menu 2", "yesno 0", "input 0 hello",
                                         "passphrase 0 6", "msgbox 0"])

    def test_escape_cancels(self):
        self.tmux("new-session", "-d", "-s", "demo", "-x", "90", "-y", "25",
                  "env", "TERM=xterm-256color", DEMO, self.out)
        self.wait_for("Demo | Heads Boot Menu")
        self.tmux("send-keys", "-t", "demo", "Escape")
        end = time.time() + 10
        while time.time() < end and not os.path.getsize(self.out):
            time.sleep(0.1)
        self.assertEqual(self.result()[0], "menu -125")  # -ECANCELED


if __name__ == "__main__":
    heads_tap.main()
