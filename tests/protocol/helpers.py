"""Helpers for the end-to-end suite: a raw IMAP line client, /proc
inspection and deadline polling. Standard library only."""

import base64
import os
import random
import re
import socket
import ssl
import time

TIMEOUT = 10.0  # seconds for any single network wait

BUILD = os.environ.get("POSTERN_BUILD", "/work/main/build")
POSTERN = os.path.join(BUILD, "master", "postern")
MAILADM = os.path.join(BUILD, "admin", "mailadm")

_LITERAL_RE = re.compile(rb"\{(\d+)\+?\}$")


_used_ports = set()


def _port_free(port):
    for addr in ("0.0.0.0", "127.0.0.1"):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((addr, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_port_base():
    """A base N with N+143, N+993, N+587 and N+465 free and not handed out
    before in this run. Stays below the usual ephemeral range (32768+) so that outgoing
    connections of other programs do not grab our ports."""
    rng = random.Random()
    for _ in range(500):
        base = rng.randrange(10000, 31000)
        ports = (base + 143, base + 993, base + 587, base + 465)
        if any(p in _used_ports for p in ports):
            continue
        if all(_port_free(p) for p in ports):
            _used_ports.update(ports)
            return base
    raise RuntimeError("no free port base found")


class ConnectionClosed(Exception):
    pass


def wait_for(pred, timeout=10.0, interval=0.05, what="condition"):
    """Polls pred() until it returns a true value (returned) or the deadline
    passes (AssertionError naming what)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (timeout, what))
        time.sleep(interval)


class Conn:
    """One IMAP connection read line by line. Lines are returned as bytes
    without CRLF; a response literal {n} is read and kept inline, so one
    response is one item."""

    def __init__(self, sock, timeout=TIMEOUT):
        self.sock = sock
        self.sock.settimeout(timeout)
        self.buf = b""

    @classmethod
    def open(cls, port, host="127.0.0.1", tls=None, server_hostname=None,
             timeout=TIMEOUT, greeting=True, session=None):
        sock = socket.create_connection((host, port), timeout=timeout)
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname=server_hostname,
                                   session=session)
        c = cls(sock, timeout)
        c.greeting = c.readline() if greeting else None
        return c

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except ssl.SSLZeroReturnError:
            chunk = b""
        if not chunk:
            raise ConnectionClosed("connection closed; unread %r" % self.buf)
        self.buf += chunk

    def _rawline(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def readline(self):
        line = self._rawline()
        while True:
            m = _LITERAL_RE.search(line)
            if m is None:
                return line
            n = int(m.group(1))
            while len(self.buf) < n:
                self._fill()
            line += b"\r\n" + self.buf[:n]
            self.buf = self.buf[n:]
            line += self._rawline()

    def read_until_tagged(self, tag):
        """All lines up to and including the one tagged `tag`."""
        if isinstance(tag, str):
            tag = tag.encode()
        lines = []
        while True:
            line = self.readline()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def command(self, tag, text):
        """Sends `tag text` and returns (lines before the tagged one, tagged
        line)."""
        self.send("%s %s\r\n" % (tag, text))
        lines = self.read_until_tagged(tag)
        return lines[:-1], lines[-1]

    def read_eof(self):
        """Reads until the peer closes; returns the lines received. Raises
        socket.timeout if the connection stays open past the timeout."""
        lines = []
        while True:
            try:
                lines.append(self.readline())
            except ConnectionClosed:
                return lines
            except (ConnectionResetError, ssl.SSLEOFError, BrokenPipeError):
                return lines

    def starttls(self, ctx, server_hostname=None):
        """Wraps the socket after the tagged OK of STARTTLS. Any byte already
        received beyond that OK was sent in plaintext after the server agreed
        to TLS: that is a protocol violation."""
        assert self.buf == b"", \
            "server sent plaintext after STARTTLS OK: %r" % self.buf
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)


def plain_ir(user, password):
    return base64.b64encode(b"\0" + user.encode() + b"\0"
                            + password.encode()).decode()


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def caps_of(lines):
    """Capability atoms (upper-case str) from `* CAPABILITY ...` lines or a
    response line carrying a [CAPABILITY ...] code."""
    caps = set()
    for line in lines:
        s = line.decode(errors="replace")
        m = re.match(r"\* CAPABILITY (.*)$", s, re.I)
        if m is None:
            m = re.search(r"\[CAPABILITY ([^\]]*)\]", s, re.I)
        if m is not None:
            caps.update(a.upper() for a in m.group(1).split())
    return caps


def tagged_status(line):
    """'OK', 'NO' or 'BAD' of a tagged line (bytes)."""
    parts = line.split(b" ", 2)
    return parts[1].decode().upper() if len(parts) > 1 else ""


# ---- /proc -----------------------------------------------------------------

def proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def proc_status(pid):
    """Fields of /proc/PID/status as a dict of str, or None if gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            text = f.read()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def proc_ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
    except OSError:
        return None
    # comm may contain spaces or ')': the fields after the last ')' are safe.
    rest = text[text.rindex(")") + 2:].split()
    return int(rest[1])


def proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()[0]


def pid_alive(pid):
    """True if pid exists and is not a zombie."""
    st = proc_state(pid)
    return st is not None and st != "Z"


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def proc_name(cmdline):
    return os.path.basename(cmdline[0]) if cmdline else ""
