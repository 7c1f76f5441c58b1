"""A test-only TPM bus recorder: a TCP proxy between a client (heads, through
the swtpm TCTI) and swtpm that records every byte in both directions.

tpm2-tss 3.2 has no pcap TCTI, so the capture is made here: the proxy
listens on a loopback port pair Q (commands) and Q+1 (control), as the swtpm
TCTI expects, and forwards to swtpm's P and P+1. Each connection and
direction is kept as its own byte string, so a secret is never split across
chunks of the other direction.
"""
import socket
import threading

from heads_test import free_port_pair


class TpmProxy:
    """fail: {command code: response code}: those commands are not forwarded
    and answered with that error (a TPM failing one command)."""

    def __init__(self, target_port, fail=None):
        self.target = target_port
        self.fail = dict(fail or {})
        self.lock = threading.Lock()
        self.streams = []  # bytearray per (connection, direction)
        self.command_streams = []  # client -> TPM on the command port
        self.listeners = []
        for _ in range(20):
            port = free_port_pair()
            try:
                ls = [self._listen(port), self._listen(port + 1)]
            except OSError:
                continue
            self.port = port
            self.listeners = ls
            break
        else:
            raise RuntimeError("no free port pair for the proxy")
        self.tcti = f"swtpm:host=127.0.0.1,port={self.port}"
        for i, ls in enumerate(self.listeners):
            threading.Thread(target=self._accept, args=(ls, self.target + i),
                             daemon=True).start()

    @staticmethod
    def _listen(port):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(8)
        return s

    def _accept(self, ls, upstream_port):
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", upstream_port))
            for a, b, to_tpm in ((c, u, True), (u, c, False)):
                buf = bytearray()
                with self.lock:
                    self.streams.append(buf)
                    if to_tpm and upstream_port == self.target:
                        self.command_streams.append(buf)
                inject = to_tpm and upstream_port == self.target and self.fail
                threading.Thread(target=self._pump, args=(a, b, buf, inject),
                                 daemon=True).start()

    def _pump(self, src, dst, buf, inject=False):
        pending = b""
        try:
            while True:
                d = src.recv(65536)
                if not d:
                    break
                with self.lock:
                    buf += d
                if not inject:
                    dst.sendall(d)
                    continue
                # whole commands only: a failing one is answered here
                pending += d
                while len(pending) >= 10:
                    size = int.from_bytes(pending[2:6], "big")
                    if size < 10 or len(pending) < size:
                        break
                    cmd, pending = pending[:size], pending[size:]
                    rc = self.fail.get(int.from_bytes(cmd[6:10], "big"))
                    if rc is None:
                        dst.sendall(cmd)
                    else:
                        src.sendall(b"\x80\x01" + (10).to_bytes(4, "big") + rc.to_bytes(4, "big"))
        except OSError:
            pass
        finally:
            for s in (dst, src):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def captured(self):
        """Every recorded stream (bytes), one per connection and direction."""
        with self.lock:
            return [bytes(b) for b in self.streams]

    def commands(self):
        """(command code, command bytes) of every TPM command sent, in order
        per connection (the swtpm TCTI sends raw TPM command buffers)."""
        out = []
        with self.lock:
            streams = [bytes(b) for b in self.command_streams]
        for s in streams:
            off = 0
            while off + 10 <= len(s):
                size = int.from_bytes(s[off + 2:off + 6], "big")
                if size < 10:
                    raise AssertionError(f"unparsable TPM command at {off}")
                out.append((int.from_bytes(s[off + 6:off + 10], "big"), s[off:off + size]))
                off += size
        return out

    def total(self):
        return sum(len(b) for b in self.captured())

    def close(self):
        for ls in self.listeners:
            ls.close()
