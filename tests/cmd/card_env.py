"""A private OpenPGP card for a test: pcscd (foreground) with only the vpcd
reader on a free port, the card model (tests/devices/openpgp_card.py)
connected to it, and a private GNUPGHOME configured for the card
(scdaemon.conf: disable-ccid, so scdaemon talks PC/SC to pcscd;
gpg-agent.conf: allow-loopback-pinentry).

pcscd 1.9.9 listens on the fixed /run/pcscd/pcscd.comm (no
PCSCLITE_CSOCK_NAME in the daemon) and allows one instance per machine, so
a test using a card runs in its own mount namespace with a tmpfs on /run:
ensure_private_run() re-executes the test under `unshare -m` (root) before
anything starts, and everything the test starts (pcscd, gpg-agent,
scdaemon, heads) sees only that namespace's pcscd. Torn down by pid only.
"""
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(os.path.dirname(HERE), "devices", "openpgp_card.py")
_MARK = "HEADS_CARD_TEST_NS"


def ensure_private_run():
    """Re-run this test in a private mount namespace with a tmpfs on /run."""
    if os.environ.get(_MARK) == str(os.getpid()):
        return
    if os.environ.get(_MARK) == "child":
        os.environ[_MARK] = str(os.getpid())
        subprocess.run(["mount", "--make-rprivate", "/"], check=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"], check=True)
        os.makedirs("/run/pcscd")
        return
    env = dict(os.environ, **{_MARK: "child"})
    os.execvpe("unshare", ["unshare", "-m", sys.executable, *sys.argv], env)


def free_port():
    """A free TCP port below the ephemeral range (where outgoing
    connections of other processes cannot take it meanwhile)."""
    import random
    for _ in range(200):
        p = random.randrange(20000, 32000)
        s = socket.socket()
        try:
            s.bind(("0.0.0.0", p))
            return p
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port")


class CardEnv:
    """pcscd + the model + a GnuPG home, under tmp. Keep it across commands;
    remove_card()/insert_card() pull and plug the card (its state file
    stays: a real card keeps its keys)."""

    def __init__(self, tmp, serial="00000001"):
        self.tmp = tmp
        self.state = os.path.join(tmp, "card.json")
        self.apdu_log = os.path.join(tmp, "apdu.log")
        self.serial = serial
        self.home = os.path.join(tmp, "gnupg")
        os.makedirs(self.home, mode=0o700, exist_ok=True)
        with open(os.path.join(self.home, "scdaemon.conf"), "w") as f:
            f.write("disable-ccid\n")
        with open(os.path.join(self.home, "gpg-agent.conf"), "w") as f:
            f.write("allow-loopback-pinentry\n")
        self.pcscd_log = open(os.path.join(tmp, "pcscd.log"), "w")
        self.model_log = open(os.path.join(tmp, "model.log"), "w")
        self.model = None
        for attempt in range(5):
            # a port free a moment ago can be taken by another process
            # before vpcd binds it: then pcscd runs without the reader
            self.pcscd_log.truncate(0)
            self.pcscd_log.seek(0)
            self._start_pcscd()
            if self._listening():
                break
            self._stop_pcscd_only()
        else:
            self.close()
            raise RuntimeError("vpcd never listened: see %s" % self.pcscd_log.name)
        try:
            self.insert_card()
        except BaseException:
            self.close()
            raise

    def _start_pcscd(self):
        self.port = free_port()
        conf = os.path.join(self.tmp, "reader.conf.d")
        os.makedirs(conf, exist_ok=True)
        with open(os.path.join(conf, "vpcd"), "w") as f:
            f.write('FRIENDLYNAME "Virtual PCD"\n'
                    "DEVICENAME   /dev/null:0x%X\n"
                    "LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so\n"
                    "CHANNELID    0x%X\n" % (self.port, self.port))
        # the daemons' output goes to files: a test's stdout is its TAP
        # stream, which must close when the test ends
        self.pcscd = subprocess.Popen(["pcscd", "-f", "-c", conf], stdout=self.pcscd_log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def _listening(self):
        """vpcd listens on the port (read from /proc/net/tcp: a probe
        connection would count as a card client coming and going)."""
        want = ":%04X" % self.port
        for _ in range(100):
            with open("/proc/net/tcp") as f:
                for line in f.readlines()[1:]:
                    cols = line.split()
                    if cols[1].endswith(want) and cols[3] == "0A":
                        # ours, unless pcscd says the bind failed
                        time.sleep(0.2)
                        return not self._bind_failed()
            if self.pcscd.poll() is not None or self._bind_failed():
                return False
            time.sleep(0.1)
        return False

    def _bind_failed(self):
        self.pcscd_log.flush()
        with open(self.pcscd_log.name) as f:
            return "Could not initialize connection" in f.read()

    def _stop_pcscd_only(self):
        self.pcscd.terminate()
        try:
            self.pcscd.wait(10)
        except subprocess.TimeoutExpired:
            self.pcscd.kill()
            self.pcscd.wait()

    def insert_card(self):
        assert self.model is None
        seen = self._atr_count()
        self.model = subprocess.Popen([sys.executable, MODEL, "--state", self.state,
                                       "--serial", self.serial, "--log", self.apdu_log,
                                       "vpcd", "--port", str(self.port)],
                                      stdout=self.model_log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)
        # pcscd polls the reader, finds the card and reads its ATR: ready
        for _ in range(100):
            if self._atr_count() > seen:
                time.sleep(1)  # pcscd power-cycles a new card before use
                return
            if self.model.poll() is not None:
                self.model_log.flush()
                with open(self.model_log.name) as f:
                    raise RuntimeError("the card model exited: %s" % f.read()[-2000:])
            time.sleep(0.1)
        raise RuntimeError("pcscd did not power the card up")

    def _atr_count(self):
        try:
            with open(self.apdu_log) as f:
                return sum(1 for line in f if line.startswith("> 415452"))
        except FileNotFoundError:
            return 0

    def remove_card(self):
        self.kill_agent()
        if self.model:
            self.model.terminate()
            self.model.wait(10)
            self.model = None
        time.sleep(0.7)

    def kill_agent(self):
        subprocess.run(["gpgconf", "--homedir", self.home, "--kill", "gpg-agent"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def gpg(self, *args, input=None, check=True):
        r = subprocess.run(["gpg", "--homedir", self.home, "--batch", "--no-tty", *args],
                           input=input, capture_output=True,
                           text=not isinstance(input, bytes), timeout=300)
        if check and r.returncode != 0:
            raise AssertionError("gpg %s failed: %s" % (" ".join(args), r.stderr))
        return r

    def card_json(self):
        import json
        with open(self.state) as f:
            return json.load(f)

    def close(self):
        try:
            self.remove_card()
        finally:
            self._stop_pcscd()

    def _stop_pcscd(self):
        self._stop_pcscd_only()
        self.model_log.close()
        self.pcscd_log.close()
