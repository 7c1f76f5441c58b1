#!/usr/bin/env python3
"""A model of an OpenPGP card (application specification 3.4) for tests.

Never shipped in the payload. One APDU core (class Card) with its state in a
JSON file (keys, PINs, retry counters, data objects survive a restart, as a
card's do), and two front-ends:

  vpcd    connect to vsmartcard-vpcd (pcscd's virtual reader driver) on
          localhost:PORT; framing: 2-byte big-endian length + payload, a
          1-byte payload is a control (0 off, 1 on, 2 reset, 4 ATR)
  vscard  QEMU's ccid-card-passthru protocol on a chardev socket (UNIX path):
          12-byte header (type, reader id, length; big-endian) + payload

The core answers what scdaemon 2.2 sends (measured, /work/shared/spec/
dongles.md): SELECT, GET DATA (4F 5E 5F50 5F52 65 6E 7A C4 C5 CD 0101-0104,
7F21), VERIFY (81/82/83, status query with no data), CHANGE REFERENCE DATA,
RESET RETRY COUNTER (with the resetting code or after PW3), PUT DATA (DA:
cardholder, attributes C1-C3, C4, fingerprints, times, resetting code,
private DOs; DB 3FFF: key import, extended header list 4D), GENERATE
ASYMMETRIC KEY PAIR (80 generate / 81 read), PSO:CDS, PSO:DECIPHER,
INTERNAL AUTHENTICATE, TERMINATE DF / ACTIVATE, GET RESPONSE. RSA 2048/3072/
4096 (e = 65537) and ed25519 (signing, authentication) / cv25519
(decryption). Command chaining (CLA bit 0x10) in, 61xx + GET RESPONSE out;
short and extended APDUs. The card advertises chaining only (no extended
length, no 7F66), which is what works both behind pcscd/vpcd and behind
QEMU usb-ccid + libccid.

Retry counters: 3 for PW1 and PW3, a wrong PIN decrements, 0 blocks (6983),
a right one resets to 3. PW1 for PSO:CDS is valid for one signature (C4
byte 1 = 00), so every signature needs a VERIFY.
"""
import argparse
import hashlib
import json
import os
import secrets
import socket
import struct
import sys
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa, x25519

SW_OK = b"\x90\x00"
AID_PREFIX = bytes.fromhex("D27600012401")
HIST = bytes.fromhex("0073000080059000")  # chaining only, LCS operational


def atr():
    body = bytes([0x80 | len(HIST), 0x01]) + HIST  # T0 (TD1 + K), TD1 = T=1
    tck = 0
    for b in body:
        tck ^= b
    return b"\x3b" + body + bytes([tck])


def atr_t0():
    """The same historical bytes in an ATR with no interface bytes (T=0
    implied, so no TCK): QEMU's ccid-card-passthru counts an ATR's length
    without TCK and drops a T=1 ATR that carries one ("atr too long")."""
    return b"\x3b" + bytes([len(HIST)]) + HIST


OID_ED25519 = bytes.fromhex("2B06010401DA470F01")
OID_CV25519 = bytes.fromhex("2B060104019755010501")
ATTR_RSA = {n: bytes([0x01]) + struct.pack(">HH", n, 32) + b"\x00" for n in (2048, 3072, 4096)}
ATTR_ED25519 = b"\x16" + OID_ED25519
ATTR_CV25519 = b"\x12" + OID_CV25519
SLOTS = {0xB6: 0, 0xB8: 1, 0xA4: 2}   # CRT tag -> key slot (sig, dec, aut)
DEFAULT_PW1 = "123456"
DEFAULT_PW3 = "12345678"
MAX_TRIES = 3


class CardError(Exception):
    def __init__(self, sw):
        super().__init__("%04X" % sw)
        self.sw = sw


def tlv(tag, value):
    t = tag.to_bytes(2, "big") if tag > 0xFF else bytes([tag])
    n = len(value)
    if n < 0x80:
        ln = bytes([n])
    elif n < 0x100:
        ln = bytes([0x81, n])
    else:
        ln = bytes([0x82]) + n.to_bytes(2, "big")
    return t + ln + value


def parse_tlv(data):
    """[(tag, value)] of a BER-TLV sequence; CardError 6A80 if malformed."""
    out, i = [], 0
    while i < len(data):
        tag = data[i]
        i += 1
        if tag & 0x1F == 0x1F:
            if i >= len(data):
                raise CardError(0x6A80)
            tag = tag << 8 | data[i]
            i += 1
        if i >= len(data):
            raise CardError(0x6A80)
        n = data[i]
        i += 1
        if n & 0x80:
            k = n & 0x7F
            if k == 0 or k > 2 or i + k > len(data):
                raise CardError(0x6A80)
            n = int.from_bytes(data[i:i + k], "big")
            i += k
        if i + n > len(data):
            raise CardError(0x6A80)
        out.append((tag, data[i:i + n]))
        i += n
    return out


def fresh_state(serial):
    return {
        "serial": serial,
        "terminated": False,
        "pw1": DEFAULT_PW1, "pw3": DEFAULT_PW3, "rc": "",
        "tries": {"pw1": MAX_TRIES, "rc": 0, "pw3": MAX_TRIES},
        "pw1_multi": False,
        "attrs": [ATTR_RSA[2048].hex()] * 3,
        "keys": [None, None, None],          # PKCS#8 DER hex
        "fpr": ["00" * 20] * 3, "ca_fpr": ["00" * 20] * 3, "time": ["00" * 4] * 3,
        "sig_count": 0,
        "dos": {},                           # tag hex -> value hex
    }


class Card:
    def __init__(self, path, serial="00000001"):
        self.path = path
        if os.path.exists(path):
            with open(path) as f:
                self.st = json.load(f)
        else:
            self.st = fresh_state(serial)
            self.save()
        self.reset()

    def save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.st, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def reset(self):
        """Power on / reset: nothing verified, no pending chains."""
        self.v81 = self.v82 = self.v83 = False
        self.chain = None
        self.pending = b""

    # ---- APDU framing ----------------------------------------------------

    def process(self, apdu):
        try:
            cla, ins, p1, p2, data, le = self.parse(apdu)
            if ins == 0xC0:            # GET RESPONSE
                return self.respond(b"", le, from_pending=True)
            self.pending = b""
            if cla & 0x10:             # command chaining: collect
                key = (ins, p1, p2)
                if self.chain and self.chain[0] != key:
                    self.chain = None
                    raise CardError(0x6883)
                self.chain = (key, (self.chain[1] if self.chain else b"") + data)
                return SW_OK
            if self.chain:
                if self.chain[0] != (ins, p1, p2):
                    self.chain = None
                    raise CardError(0x6883)
                data = self.chain[1] + data
                self.chain = None
            out = self.dispatch(ins, p1, p2, data)
            return self.respond(out, le)
        except CardError as e:
            return e.sw.to_bytes(2, "big")

    @staticmethod
    def parse(apdu):
        if len(apdu) < 4:
            raise CardError(0x6700)
        cla, ins, p1, p2 = apdu[:4]
        body = apdu[4:]
        data, le = b"", 0
        if not body:
            pass
        elif len(body) == 1:
            le = body[0] or 256
        elif body[0] == 0 and len(body) >= 3:      # extended
            if len(body) == 3:
                le = int.from_bytes(body[1:3], "big") or 65536
            else:
                lc = int.from_bytes(body[1:3], "big")
                if len(body) < 3 + lc:
                    raise CardError(0x6700)
                data = body[3:3 + lc]
                rest = body[3 + lc:]
                if len(rest) not in (0, 2):
                    raise CardError(0x6700)
                if rest:
                    le = int.from_bytes(rest, "big") or 65536
        else:
            lc = body[0]
            if len(body) < 1 + lc:
                raise CardError(0x6700)
            data = body[1:1 + lc]
            rest = body[1 + lc:]
            if len(rest) > 1:
                raise CardError(0x6700)
            if rest:
                le = rest[0] or 256
        return cla, ins, p1, p2, bytes(data), le

    def respond(self, out, le, from_pending=False):
        if from_pending:
            out = self.pending
        le = le or 256
        chunk, self.pending = out[:le], out[le:]
        if self.pending:
            n = len(self.pending)
            return chunk + bytes([0x61, n if n < 256 else 0])
        return chunk + SW_OK

    # ---- commands --------------------------------------------------------

    def dispatch(self, ins, p1, p2, data):
        if ins == 0xA4:
            return self.select(p1, data)
        if self.st["terminated"] and ins not in (0x44, 0xE6):
            raise CardError(0x6285)
        h = {
            0xCA: self.get_data, 0x20: self.verify, 0x24: self.change_pin,
            0x2C: self.reset_retry, 0xDA: self.put_data, 0xDB: self.put_data_odd,
            0x47: self.generate, 0x2A: self.pso, 0x88: self.internal_auth,
            0xE6: self.terminate, 0x44: self.activate,
        }.get(ins)
        if not h:
            raise CardError(0x6D00)
        return h(p1, p2, data)

    def select(self, p1, data):
        if p1 == 0x04 and data.startswith(AID_PREFIX):
            self.reset()
            if self.st["terminated"]:
                raise CardError(0x6285)
            return b""
        raise CardError(0x6A82)

    def aid(self):
        return AID_PREFIX + bytes.fromhex("0304" + "0000" + self.st["serial"] + "0000")

    def pw_status(self):
        t = self.st["tries"]
        return bytes([1 if self.st["pw1_multi"] else 0, 0x7F, 0x7F, 0x7F,
                      t["pw1"], t["rc"], t["pw3"]])

    def ext_caps(self):
        # key import, PW status changeable, algorithm attributes changeable;
        # no SM, no GET CHALLENGE; cardholder certificate up to 2048 bytes
        return bytes([0x34, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0xFF, 0x00, 0x00])

    def do(self, tag):
        st = self.st
        if tag == 0x4F:
            return self.aid()
        if tag == 0x5F52:
            return HIST
        if tag == 0xC4:
            return self.pw_status()
        if tag == 0x65:
            return (tlv(0x5B, self.dos(0x5B)) + tlv(0x5F2D, self.dos(0x5F2D)) +
                    tlv(0x5F35, self.dos(0x5F35)))
        if tag == 0x7A:
            return tlv(0x93, st["sig_count"].to_bytes(3, "big"))
        if tag == 0xC5:
            return b"".join(bytes.fromhex(x) for x in st["fpr"])
        if tag == 0xC6:
            return b"".join(bytes.fromhex(x) for x in st["ca_fpr"])
        if tag == 0xCD:
            return b"".join(bytes.fromhex(x) for x in st["time"])
        if tag in (0xC1, 0xC2, 0xC3):
            return bytes.fromhex(st["attrs"][tag - 0xC1])
        if tag == 0x6E:
            d = b"".join(tlv(t, self.do(t)) for t in (0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xCD))
            return (tlv(0x4F, self.aid()) + tlv(0x5F52, HIST) +
                    tlv(0x73, tlv(0xC0, self.ext_caps()) + d))
        if tag in (0x5E, 0x5F50, 0x5B, 0x5F2D, 0x5F35, 0x7F21, 0x0101, 0x0102,
                   0x0103, 0x0104):
            if tag == 0x0103 and not self.v82:
                raise CardError(0x6982)
            if tag == 0x0104 and not self.v83:
                raise CardError(0x6982)
            return self.dos(tag)
        raise CardError(0x6A88)

    def dos(self, tag):
        return bytes.fromhex(self.st["dos"].get("%04X" % tag, ""))

    def get_data(self, p1, p2, data):
        return self.do(p1 << 8 | p2)

    def _check(self, which, pin):
        st = self.st
        key = {0x81: "pw1", 0x82: "pw1", 0x83: "pw3"}.get(which)
        if key is None:
            raise CardError(0x6A86)
        if st["tries"][key] == 0:
            raise CardError(0x6983)
        if not secrets.compare_digest(pin, st[key].encode()):
            st["tries"][key] -= 1
            self.save()
            if st["tries"][key] == 0:
                raise CardError(0x6983)
            raise CardError(0x63C0 | st["tries"][key])
        if st["tries"][key] != MAX_TRIES:
            st["tries"][key] = MAX_TRIES
            self.save()

    def verify(self, p1, p2, data):
        attr = {0x81: "v81", 0x82: "v82", 0x83: "v83"}.get(p2)
        if attr is None:
            raise CardError(0x6A86)
        if p1 == 0xFF:                       # reset the verification state
            setattr(self, attr, False)
            return b""
        if not data:                          # status query
            if getattr(self, attr):
                return b""
            n = self.st["tries"]["pw3" if p2 == 0x83 else "pw1"]
            raise CardError(0x63C0 | n if n else 0x6983)
        setattr(self, attr, False)
        self._check(p2, data)
        setattr(self, attr, True)
        return b""

    def change_pin(self, p1, p2, data):
        key = {0x81: "pw1", 0x83: "pw3"}.get(p2)
        if key is None:
            raise CardError(0x6A86)
        cur = self.st[key].encode()
        self._check(p2, data[:len(cur)])
        new = data[len(cur):]
        if len(new) < (6 if key == "pw1" else 8) or len(new) > 0x7F:
            raise CardError(0x6A80)
        self.st[key] = new.decode("latin-1")
        self.save()
        if key == "pw1":
            self.v81 = self.v82 = False
        else:
            self.v83 = False
        return b""

    def reset_retry(self, p1, p2, data):
        st = self.st
        if p2 != 0x81:
            raise CardError(0x6A86)
        if p1 == 0x02:
            if not self.v83:
                raise CardError(0x6982)
            new = data
        elif p1 == 0x00:
            rc = st["rc"].encode()
            if not rc:
                raise CardError(0x6982)
            if st["tries"]["rc"] == 0:
                raise CardError(0x6983)
            if not secrets.compare_digest(data[:len(rc)], rc):
                st["tries"]["rc"] -= 1
                self.save()
                raise CardError(0x63C0 | st["tries"]["rc"])
            st["tries"]["rc"] = MAX_TRIES
            new = data[len(rc):]
        else:
            raise CardError(0x6A86)
        if len(new) < 6 or len(new) > 0x7F:
            raise CardError(0x6A80)
        st["pw1"] = new.decode("latin-1")
        st["tries"]["pw1"] = MAX_TRIES
        self.save()
        return b""

    def put_data(self, p1, p2, data):
        tag = p1 << 8 | p2
        st = self.st
        if not self.v83:
            raise CardError(0x6982)
        if tag in (0xC1, 0xC2, 0xC3):
            i = tag - 0xC1
            ok = (data in ATTR_RSA.values() or
                  (data.rstrip(b"\x00\xff") in (ATTR_ED25519,) and i != 1) or
                  (data.rstrip(b"\x00\xff") in (ATTR_CV25519,) and i == 1))
            # gpg sends RSA attrs with import format 00, ECC ones as tag+OID
            if not ok and data[:1] == b"\x01" and len(data) == 6:
                ok = data in ATTR_RSA.values()
            if not ok:
                raise CardError(0x6A80)
            st["attrs"][i] = data.hex()
            st["keys"][i] = None
            st["fpr"][i] = "00" * 20
            st["time"][i] = "00" * 4
        elif tag == 0xC4:
            if len(data) < 1:
                raise CardError(0x6700)
            st["pw1_multi"] = data[0] == 1
        elif tag in (0xC7, 0xC8, 0xC9):
            if len(data) != 20:
                raise CardError(0x6700)
            st["fpr"][tag - 0xC7] = data.hex()
        elif tag in (0xCA, 0xCB, 0xCC):
            if len(data) != 20:
                raise CardError(0x6700)
            st["ca_fpr"][tag - 0xCA] = data.hex()
        elif tag in (0xCE, 0xCF, 0xD0):
            if len(data) != 4:
                raise CardError(0x6700)
            st["time"][tag - 0xCE] = data.hex()
        elif tag == 0xD3:
            if data and (len(data) < 8 or len(data) > 0x7F):
                raise CardError(0x6A80)
            st["rc"] = data.decode("latin-1")
            st["tries"]["rc"] = MAX_TRIES if data else 0
        elif tag in (0x5B, 0x5F2D, 0x5F35, 0x5E, 0x5F50, 0x7F21, 0x0101, 0x0102,
                     0x0103, 0x0104):
            limit = 0x800 if tag == 0x7F21 else 0xFF if tag >= 0x0101 else 0x27 \
                if tag == 0x5B else 0xFF
            if len(data) > limit:
                raise CardError(0x6700)
            st["dos"]["%04X" % tag] = data.hex()
        else:
            raise CardError(0x6A88)
        self.save()
        return b""

    def put_data_odd(self, p1, p2, data):
        if (p1, p2) != (0x3F, 0xFF):
            raise CardError(0x6A88)
        if not self.v83:
            raise CardError(0x6982)
        (tag, ehl), = parse_tlv(data) if data[:1] == b"\x4d" else [(0, b"")]
        if tag != 0x4D:
            raise CardError(0x6A80)
        items = parse_tlv(ehl)
        if len(items) != 3 or items[1][0] != 0x7F48 or items[2][0] != 0x5F48:
            raise CardError(0x6A80)
        crt, tmpl, blob = items[0][0], items[1][1], items[2][1]
        if crt not in SLOTS:
            raise CardError(0x6A80)
        slot = SLOTS[crt]
        # 7F48 is a list of tag + length (no values)
        lens, i = [], 0
        while i < len(tmpl):
            t = tmpl[i]
            i += 1
            if i >= len(tmpl):
                raise CardError(0x6A80)
            n = tmpl[i]
            i += 1
            if n & 0x80:
                k = n & 0x7F
                if k == 0 or k > 2 or i + k > len(tmpl):
                    raise CardError(0x6A80)
                n = int.from_bytes(tmpl[i:i + k], "big")
                i += k
            lens.append((t, n))
        if sum(n for _, n in lens) != len(blob):
            raise CardError(0x6A80)
        parts, off = {}, 0
        for t, n in lens:
            parts[t] = blob[off:off + n]
            off += n
        attr = bytes.fromhex(self.st["attrs"][slot])
        try:
            if attr[0] == 0x01:
                e = int.from_bytes(parts[0x91], "big")
                p = int.from_bytes(parts[0x92], "big")
                q = int.from_bytes(parts[0x93], "big")
                n = p * q
                if n.bit_length() != struct.unpack(">H", attr[1:3])[0]:
                    raise CardError(0x6A80)
                d = pow(e, -1, (p - 1) * (q - 1))
                key = rsa.RSAPrivateNumbers(
                    p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p),
                    rsa.RSAPublicNumbers(e, n)).private_key()
            elif attr[0] == 0x16:
                key = ed25519.Ed25519PrivateKey.from_private_bytes(parts[0x92])
            else:
                raw = parts[0x92]
                # OpenPGP stores cv25519 secrets big-endian; X25519 wants
                # the little-endian scalar
                key = x25519.X25519PrivateKey.from_private_bytes(raw[::-1])
        except (KeyError, ValueError):
            raise CardError(0x6A80)
        self.store_key(slot, key)
        return b""

    def store_key(self, slot, key):
        self.st["keys"][slot] = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).hex()
        if slot == 0:
            self.st["sig_count"] = 0
        self.save()

    def key(self, slot):
        k = self.st["keys"][slot]
        if not k:
            raise CardError(0x6A88)
        return serialization.load_der_private_key(bytes.fromhex(k), None)

    def pubkey_do(self, key):
        if isinstance(key, rsa.RSAPrivateKey):
            pn = key.public_key().public_numbers()
            n = pn.n.to_bytes((pn.n.bit_length() + 7) // 8, "big")
            e = pn.e.to_bytes((pn.e.bit_length() + 7) // 8, "big")
            return tlv(0x7F49, tlv(0x81, n) + tlv(0x82, e))
        pub = key.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
        return tlv(0x7F49, tlv(0x86, pub))

    def generate(self, p1, p2, data):
        if len(data) < 1 or data[0] not in SLOTS:
            raise CardError(0x6A80)
        slot = SLOTS[data[0]]
        if p1 == 0x81:
            return self.pubkey_do(self.key(slot))
        if p1 != 0x80:
            raise CardError(0x6A86)
        if not self.v83:
            raise CardError(0x6982)
        attr = bytes.fromhex(self.st["attrs"][slot])
        if attr[0] == 0x01:
            key = rsa.generate_private_key(65537, struct.unpack(">H", attr[1:3])[0])
        elif attr[0] == 0x16:
            key = ed25519.Ed25519PrivateKey.generate()
        else:
            key = x25519.X25519PrivateKey.generate()
        self.store_key(slot, key)
        return self.pubkey_do(key)

    @staticmethod
    def rsa_sign(key, digest_info):
        pn = key.private_numbers()
        k = (pn.public_numbers.n.bit_length() + 7) // 8
        if len(digest_info) > k * 4 // 10:
            raise CardError(0x6700)
        em = b"\x00\x01" + b"\xff" * (k - 3 - len(digest_info)) + b"\x00" + digest_info
        s = pow(int.from_bytes(em, "big"), pn.d, pn.public_numbers.n)
        return s.to_bytes(k, "big")

    def sign_with(self, slot, data):
        key = self.key(slot)
        if isinstance(key, rsa.RSAPrivateKey):
            return self.rsa_sign(key, data)
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(data)
        raise CardError(0x6A80)

    def pso(self, p1, p2, data):
        if (p1, p2) == (0x9E, 0x9A):
            if not self.v81:
                raise CardError(0x6982)
            if not self.st["pw1_multi"]:
                self.v81 = False
            out = self.sign_with(0, data)
            self.st["sig_count"] += 1
            self.save()
            return out
        if (p1, p2) == (0x80, 0x86):
            if not self.v82:
                raise CardError(0x6982)
            key = self.key(1)
            if isinstance(key, rsa.RSAPrivateKey):
                pn = key.private_numbers()
                c = int.from_bytes(data[1:], "big")
                k = (pn.public_numbers.n.bit_length() + 7) // 8
                m = pow(c, pn.d, pn.public_numbers.n).to_bytes(k, "big")
                if m[:2] != b"\x00\x02" or b"\x00" not in m[2:]:
                    raise CardError(0x6A80)
                return m[m.index(b"\x00", 2) + 1:]
            try:
                (t, v), = parse_tlv(data)
                (t2, v2), = parse_tlv(v)
                (t3, pub), = parse_tlv(v2)
                if (t, t2, t3) != (0xA6, 0x7F49, 0x86):
                    raise ValueError
                if len(pub) == 33 and pub[0] == 0x40:
                    pub = pub[1:]
                return key.exchange(x25519.X25519PublicKey.from_public_bytes(pub))
            except ValueError:
                raise CardError(0x6A80)
        raise CardError(0x6A86)

    def internal_auth(self, p1, p2, data):
        if not self.v82:
            raise CardError(0x6982)
        return self.sign_with(2, data)

    def terminate(self, p1, p2, data):
        if not self.v83 and self.st["tries"]["pw3"] != 0:
            raise CardError(0x6982)
        self.st["terminated"] = True
        self.save()
        self.reset()
        return b""

    def activate(self, p1, p2, data):
        if self.st["terminated"]:
            self.st = fresh_state(self.st["serial"])
            self.save()
        self.reset()
        return b""


# ---- front-ends -------------------------------------------------------------

def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b


def log_apdu(args, c, r):
    if args.log:
        with open(args.log, "a") as f:
            f.write("> %s\n< %s\n" % (c.hex(), r.hex()))


def serve_vpcd(card, args):
    for _ in range(100):  # vpcd may be between two listens
        try:
            s = socket.create_connection(("127.0.0.1", args.port))
            break
        except ConnectionRefusedError:
            time.sleep(0.1)
    else:
        raise SystemExit("vpcd does not listen on port %d" % args.port)
    try:
        while True:
            n, = struct.unpack(">H", recv_exact(s, 2))
            msg = recv_exact(s, n)
            if len(msg) == 1:
                if msg[0] == 4:
                    a = atr()
                    log_apdu(args, b"ATR", a)
                    s.sendall(struct.pack(">H", len(a)) + a)
                else:
                    log_apdu(args, {0: b"OFF", 1: b"ON", 2: b"RESET"}.get(msg[0], b"?"), b"")
                    card.reset()          # off, on, reset
                continue
            r = card.process(msg)
            log_apdu(args, msg, r)
            s.sendall(struct.pack(">H", len(r)) + r)
    except (EOFError, ConnectionError):
        return


VSC_INIT, VSC_ERROR, VSC_READER_ADD, VSC_ATR, VSC_APDU = 1, 2, 3, 5, 7
VSC_FLUSH, VSC_FLUSH_COMPLETE = 8, 9


def serve_vscard(card, args):
    s = socket.socket(socket.AF_UNIX)
    s.connect(args.socket)

    def send(t, payload, reader=0):
        s.sendall(struct.pack(">III", t, reader, len(payload)) + payload)

    # QEMU's own Init is lost when its chardev does not wait for us: say
    # hello first, then plug the reader and insert the card
    send(VSC_INIT, b"VSCD" + struct.pack(">II", 2, 0), 0xFFFFFFFF)
    send(VSC_READER_ADD, b"")
    send(VSC_ATR, atr_t0())
    try:
        while True:
            t, reader, n = struct.unpack(">III", recv_exact(s, 12))
            if n > 65536 + 16:
                raise EOFError
            payload = recv_exact(s, n)
            if t == VSC_APDU:
                r = card.process(payload)
                log_apdu(args, payload, r)
                send(VSC_APDU, r, reader)
            elif t == VSC_FLUSH:
                send(VSC_FLUSH_COMPLETE, b"", reader)
            else:   # Init, Error (QEMU acks ReaderAdd and ATR with Error 0)
                log_apdu(args, b"VSC%d" % t, payload)
    except (EOFError, ConnectionError):
        return


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--state", required=True, help="JSON state file (created if absent)")
    ap.add_argument("--serial", default="00000001", help="8 hex digits (new state only)")
    ap.add_argument("--log", help="append every APDU pair here (hex)")
    sub = ap.add_subparsers(dest="frontend", required=True)
    v = sub.add_parser("vpcd")
    v.add_argument("--port", type=int, default=35963)
    q = sub.add_parser("vscard")
    q.add_argument("--socket", required=True)
    args = ap.parse_args()
    if len(args.serial) != 8 or any(c not in "0123456789abcdefABCDEF" for c in args.serial):
        ap.error("--serial: 8 hex digits")
    card = Card(args.state, args.serial.upper())
    (serve_vpcd if args.frontend == "vpcd" else serve_vscard)(card, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
