"""The newt back-end on a real terminal: tmux runs ui-demo, we read the
screen (text and colours) and type keys."""
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "helpers"))
import heads_tap  # noqa: E402

DEMO = sys.argv.pop(1) if len(sys.argv) > 1 else os.environ.get("UI_DEMO")


BORDER_L = "\u250c\u2502\u2514\u251c\u2524lxmtu"  # ┌│└ (or the ACS letters)
BORDER_R = "\u2510\u2502\u2518\u251c\u2524kxjtu"
LIGHT = {"\u2588": (1, 1), "\u2580": (1, 0), "\u2584": (0, 1), " ": (0, 0)}


def lines_outside_windows(screen):
    """Rows between the root line and the status/help lines whose text is not
    enclosed by a window border."""
    rows = screen.splitlines()
    bad = []
    for i, l in enumerate(rows[1:-2], 1):
        t = l.strip()
        if t and not (t[0] in BORDER_L and t[-1] in BORDER_R):
            bad.append((i, l))
    return bad


def qr_from_screen(screen):
    """The half-block QR code on a captured screen as a PGM image (light
    module = glyph, as qr_render_utf8 draws it), with a quiet zone."""
    rows = [l for l in screen.splitlines()
            if sum(l.count(c) for c in "\u2588\u2580\u2584") >= 8]
    if not rows:
        return None
    start = min(min(l.index(c) for c in "\u2588\u2580\u2584" if c in l) for l in rows)
    end = max(max(l.rindex(c) for c in "\u2588\u2580\u2584" if c in l) for l in rows) + 1
    grid = []
    for l in rows:
        cells = [LIGHT.get(c, (0, 0)) for c in l[start:end].ljust(end - start)]
        grid.append([c[0] for c in cells])
        grid.append([c[1] for c in cells])
    while grid and not any(grid[-1]):
        grid.pop()
    scale, quiet = 6, 8
    w = (end - start + 2 * quiet) * scale
    h = (len(grid) + 2 * quiet) * scale
    img = bytearray(b"\xff" * (w * h))
    for y, row in enumerate(grid):
        for x, light in enumerate(row):
            if not light:
                for dy in range(scale):
                    o = ((y + quiet) * scale + dy) * w + (x + quiet) * scale
                    img[o:o + scale] = b"\x00" * scale
    return b"P5\n%d %d\n255\n" % (w, h) + bytes(img)


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
        # The two log lines emitted while the menu was up: the last one in the
        # status area above the help line, nothing drawn outside a window.
        rows = s.splitlines()
        self.assertEqual(lines_outside_windows(s), [])
        self.assertIn("WARNING: demo: a warning while a screen is up", rows[-2])
        self.assertNotIn("an info line", s)
        c = self.screen(colours=True)
        self.assertRegex(c.splitlines()[0], r"\x1b\[(4|10)3m", "root line not yellow")
        self.assertEqual(self.result()[0], "menu 2")
        # Yes/no: Tab to No, Enter.
        self.tmux("send-keys", "-t", "demo", "Tab", "Enter")
        self.wait_for("Type a word")
        self.tmux("send-keys", "-t", "demo", "BSpace", "BSpace", "BSpace", "BSpace",
                  "BSpace", "BSpace", "BSpace", "hello", "Enter")
        self.wait_for("Passphrase:")
        self.tmux("send-keys", "-t", "demo", "s3cr3t")
        # A newt password entry inside the dialog: '*' per byte, between the
        # window's borders, the typed text nowhere.
        s = self.wait_for("******")
        self.assertEqual(lines_outside_windows(s), [])
        line = next(l for l in s.splitlines() if "******" in l)
        self.assertRegex(line.strip(), r"^[%s] \*{6}_*\s*[%s]$" % (BORDER_L, BORDER_R))
        self.assertNotIn("s3cr3t", s)
        prompt = next(l for l in s.splitlines() if "Passphrase:" in l)
        self.assertRegex(prompt.strip(), r"^[%s] Passphrase:\s*[%s]$" % (BORDER_L, BORDER_R))
        # Backspace removes the last byte; the cursor cannot move into the
        # middle (Left is ignored), so "y" is appended.
        self.tmux("send-keys", "-t", "demo", "BSpace", "x", "Left", "y", "Enter")
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
                                         "passphrase 0 7 " + b"s3cr3xy".hex(),
                                         "msgbox 0"])

    def test_qr_scans(self):
        # The enrolment QR code as the newt screen draws it decodes to the
        # otpauth URI, with no locale at all, as in the initramfs (LOCPATH:
        # an empty directory, so not even C.UTF-8 loads).
        nolocale = os.path.join(self.tmp.name, "no-locales")
        os.mkdir(nolocale)
        self.tmux("new-session", "-d", "-s", "demo", "-x", "100", "-y", "50",
                  "env", "-i", "TERM=xterm-256color", "LOCPATH=" + nolocale,
                  DEMO, self.out, "qr")
        s = self.wait_for("Secret (base32):")
        self.assertNotIn("<", s.split("Secret")[0].split("secret):")[-1])
        uri = self.result()[0]
        self.assertTrue(uri.startswith("qr otpauth://totp/"), uri)
        pgm = qr_from_screen(s)
        self.assertIsNotNone(pgm, "no QR code on screen:\n" + s)
        img = os.path.join(self.tmp.name, "qr.pgm")
        with open(img, "wb") as f:
            f.write(pgm)
        z = subprocess.run(["zbarimg", "--raw", "-q", img], capture_output=True, text=True)
        self.assertEqual(z.returncode, 0, "zbarimg found no code:\n" + s)
        self.assertEqual(z.stdout.strip(), uri[3:])
        self.assertIn(uri.split("secret=")[1], s)
        self.tmux("send-keys", "-t", "demo", "Enter")
        end = time.time() + 10
        while time.time() < end and len(self.result()) < 2:
            time.sleep(0.1)
        self.assertEqual(self.result()[1], "textbox 0")

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
