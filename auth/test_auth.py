#!/usr/bin/env python3
"""Component test of postern-auth: a scripted master (fd 3 socketpair, fd 4
lifeline pipe), a scripted login process on auth-login, ticket redemption on
auth-master, and the real mailadm on auth-admin.

usage: test_auth.py POSTERN_AUTH MAILADM
Set AUTH_TEST_VALGRIND=1 to run the daemon under valgrind (slow).
Run as root, the daemon and its directories belong to uid 65534 (the daemon
then runs in dev mode as that user; root may connect to every socket)."""
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile

AUTH, MAILADM = sys.argv[1], sys.argv[2]
VALGRIND = os.environ.get("AUTH_TEST_VALGRIND") == "1"
AS_ROOT = os.geteuid() == 0
RUN_UID = 65534 if AS_ROOT else os.geteuid()

T_CHILD_READY = 10
T_AUTH_BEGIN, T_AUTH_CONTINUE, T_AUTH_CHALLENGE, T_AUTH_SUCCESS, \
    T_AUTH_FAILURE = 100, 101, 102, 103, 104
T_TICKET_REDEEM, T_TICKET_USER, T_TICKET_INVALID = 200, 201, 202
T_USER_LOOKUP, T_USER_INFO, T_USER_UNKNOWN = 203, 204, 205
T_USER_SETTINGS = 206
F_HAS_IR, F_SECURED, F_ABORT = 1, 2, 4
FAIL_CREDENTIALS, FAIL_MECH, FAIL_MALFORMED, FAIL_ABORTED, FAIL_TEMP = \
    1, 2, 3, 4, 5

checks = failures = 0


def check(cond, what):
    global checks, failures
    checks += 1
    if not cond:
        failures += 1
        print("FAIL:", what, flush=True)


# ---- IPC framing (lib/ipc.h) ----

def u32(v):
    return b"\x01" + struct.pack("=I", v)


def u64(v):
    return b"\x02" + struct.pack("=Q", v)


def sstr(s):
    b = s.encode() if isinstance(s, str) else s
    return b"\x03" + struct.pack("=I", len(b) + 1) + b + b"\x00"


def data(b):
    return b"\x04" + struct.pack("=I", len(b)) + b


def frame(mtype, peer_id, payload, version=1):
    return struct.pack("=IIIHH", mtype, len(payload), peer_id, 0,
                       version) + payload


def parse(pkt):
    mtype, ln, peer, _flags, _ver = struct.unpack("=IIIHH", pkt[:16])
    body = pkt[16:]
    assert ln == len(body)
    fields, i = [], 0
    while i < len(body):
        tag = body[i]
        i += 1
        if tag == 1:
            fields.append(struct.unpack("=I", body[i:i + 4])[0])
            i += 4
        elif tag == 2:
            fields.append(struct.unpack("=Q", body[i:i + 8])[0])
            i += 8
        else:
            n = struct.unpack("=I", body[i:i + 4])[0]
            i += 4
            v = body[i:i + n]
            i += n
            fields.append(v[:-1].decode() if tag == 3 else v)
    return mtype, peer, fields


def recv(sock, timeout=10):
    sock.settimeout(timeout)
    pkt = sock.recv(70000)
    if not pkt:
        return None
    return parse(pkt)


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    return s


# ---- set-up ----

tmp = tempfile.mkdtemp(prefix="postern-auth-test-")
os.chmod(tmp, 0o755)
dirs = {k: os.path.join(tmp, k) for k in ("run", "auth", "mail", "vg")}
for k, d in dirs.items():
    os.mkdir(d, 0o700 if k == "auth" else 0o755)
    os.chown(d, RUN_UID, RUN_UID)
conf = os.path.join(tmp, "postern.conf")
with open(conf, "w") as f:
    f.write(f"""state_dir = {tmp}
run_dir = {dirs['run']}
auth_dir = {dirs['auth']}
mail_dir = {dirs['mail']}
scram_iterations = 4096
auth_max_exchanges = 4
log_level = debug
""")
os.chmod(conf, 0o644)
LOG = os.path.join(tmp, "auth.log")


def as_run_user():
    if AS_ROOT:
        return dict(user=RUN_UID, group=RUN_UID, extra_groups=[])
    return {}


def mailadm(*args, stdin=None):
    p = subprocess.run([MAILADM, "-c", conf] + list(args), input=stdin,
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def add_offline(addr, pw):
    p = subprocess.run([AUTH, "-c", conf, "--add-user", addr,
                        "--password-stdin"], input=pw + "\n",
                       capture_output=True, text=True, timeout=60,
                       **as_run_user())
    return p.returncode, p.stderr


# ---- --help ----
for exe in (AUTH, MAILADM):
    p = subprocess.run([exe, "--help"], capture_output=True, text=True)
    check(p.returncode == 0 and "usage" in p.stdout, exe + " --help")

# ---- offline bootstrap ----
rc, err = add_offline("alice@Example.COM", "secret-alice")
check(rc == 0, "offline add: %d %s" % (rc, err))
rc, err = add_offline("alice@example.com", "x")
check(rc == 1 and "user already exists: alice@example.com" in err,
      "offline add twice: %d %r" % (rc, err))
rc, err = add_offline("no-at-sign", "x")
check(rc == 1 and "invalid address" in err, "offline bad address: %r" % err)

# ---- refuses a group/world-accessible auth_dir ----
os.chmod(dirs["auth"], 0o750)
rc, err = add_offline("carol@example.com", "x")
check(rc == 1 and "must not be accessible" in err, "auth_dir mode: %r" % err)
os.chmod(dirs["auth"], 0o700)


# ---- the daemon ----

def start():
    master, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    life_r, life_w = os.pipe()
    cmd = [AUTH, "-c", conf]
    if VALGRIND:
        cmd = ["valgrind", "--leak-check=full", "--error-exitcode=99",
               "--errors-for-leak-kinds=definite,indirect",
               "--suppressions=" + os.path.join(
                   os.path.dirname(os.path.abspath(__file__)),
                   "valgrind.supp"),
               "--log-file=" + os.path.join(dirs["vg"], "valgrind.%p")] + cmd
    cfd = child.fileno()

    def fds():
        os.dup2(cfd, 3)
        os.dup2(life_r, 4)

    log = open(LOG, "a")
    proc = subprocess.Popen(cmd, preexec_fn=fds, stdout=log, stderr=log,
                            close_fds=False, **as_run_user())
    log.close()
    child.close()
    os.close(life_r)
    msg = recv(master, timeout=120 if VALGRIND else 20)
    check(msg is not None and msg[0] == T_CHILD_READY, "CHILD_READY")
    return proc, master, life_w


proc, master, life_w = start()
RUN = dirs["run"]

# ---- admin socket via mailadm ----
rc, out, err = mailadm("user", "list")
check(rc == 0 and out == "alice@example.com\n", "list: %r %r" % (out, err))
rc, out, err = mailadm("user", "add", "bob@example.com", "--password-stdin",
                       stdin="bob-pw\n")
check(rc == 0 and out == "" and err == "", "add bob: %d %r" % (rc, err))
rc, out, err = mailadm("user", "add", "bob@example.com", "--password-stdin",
                       stdin="x\n")
check(rc == 3 and err == "mailadm: user already exists: bob@example.com\n",
      "add bob twice: %d %r" % (rc, err))
rc, out, err = mailadm("user", "add", "bad/x@example.com",
                       "--password-stdin", stdin="x\n")
check(rc == 5 and err.startswith("mailadm: invalid address: bad/x@"),
      "bad address: %d %r" % (rc, err))
rc, out, err = mailadm("user", "add", "dave@example.com", stdin="x\n")
check(rc == 1 and
      err == "mailadm: no password given: use --password-stdin\n",
      "no password: %d %r" % (rc, err))
rc, out, err = mailadm("user", "add", "dave@example.com", "--password-stdin",
                       stdin="\n")
check(rc == 5 and "empty password" in err, "empty pw: %d %r" % (rc, err))
rc, out, err = mailadm("user", "add", "dave@example.com", "--password-stdin",
                       stdin="x" * 1025 + "\n")
check(rc == 1 and "longer than 1024" in err, "long pw: %d %r" % (rc, err))
rc, out, err = mailadm("user", "add", "dave@example.com", "--password-stdin",
                       stdin="y" * 1024 + "\r\n")
check(rc == 0, "1024-byte pw: %d %r" % (rc, err))
rc, out, err = mailadm("user", "passwd", "bob@example.com",
                       "--password-stdin", stdin="bob-pw2\n")
check(rc == 0, "passwd bob: %d %r" % (rc, err))
rc, out, err = mailadm("user", "passwd", "nobody@example.com",
                       "--password-stdin", stdin="x\n")
check(rc == 4 and err == "mailadm: no such user: nobody@example.com\n",
      "passwd unknown: %d %r" % (rc, err))
rc, out, err = mailadm("user", "del", "dave@EXAMPLE.com")
check(rc == 0, "del dave: %d %r" % (rc, err))
rc, out, err = mailadm("user", "del", "dave@example.com")
check(rc == 4 and "no such user: dave@example.com" in err,
      "del twice: %d %r" % (rc, err))
rc, out, err = mailadm("user", "list")
check(out == "alice@example.com\nbob@example.com\n", "list 2: %r" % out)
rc, out, err = mailadm("user", "frobnicate")
check(rc == 2, "usage: %d" % rc)

# a raw admin request with a wrong argument count
a = connect(os.path.join(RUN, "auth-admin"))
a.send(frame(500, 9, sstr("user-del") + u32(0)))
m = recv(a)
check(m[0] == 501 and m[1] == 9 and m[2][0] == 2, "admin usage: %r" % (m,))
a.send(frame(500, 10, sstr("user-del") + u32(1)))  # promised arg missing
check(recv(a) is None, "malformed admin request drops the connection")
a.close()

# ---- login protocol ----
L = connect(os.path.join(RUN, "auth-login"))
M = connect(os.path.join(RUN, "auth-master"))
SESSION = 0x1122334455667788


def tls_fields(cb_type="", cb=b"", key=""):
    """The AUTH_BEGIN tail: channel binding type and data, client key."""
    return sstr(cb_type) + data(cb) + sstr(key)


def begin(pid, mech, flags, ir=b"", service="imap", sock=None,
          tls=None):
    (sock or L).send(frame(T_AUTH_BEGIN, pid, sstr(mech) + sstr(service) +
                           u64(SESSION) + sstr("192.0.2.7") + u32(flags) +
                           data(ir) + (tls or tls_fields())))
    return recv(sock or L)


def cont(pid, resp, flags=0):
    L.send(frame(T_AUTH_CONTINUE, pid, u32(flags) + data(resp)))
    return recv(L)


def redeem(ticket, service="imap"):
    M.send(frame(T_TICKET_REDEEM, 77, data(ticket) + sstr(service)))
    return recv(M)


m = begin(1, "PLAIN", F_HAS_IR, b"\0alice@example.com\0secret-alice")
check(m[0] == T_AUTH_FAILURE and m[2][0] == FAIL_MECH, "PLAIN needs TLS")
m = begin(2, "PLAIN", F_HAS_IR | F_SECURED,
          b"\0alice@EXAMPLE.com\0secret-alice")
check(m[0] == T_AUTH_SUCCESS and m[1] == 2 and
      m[2][0] == "alice@example.com" and len(m[2][1]) == 32 and
      m[2][2] == b"", "PLAIN success: %r" % (m,))
ticket = m[2][1]
r = redeem(ticket, "submission")
check(r[0] == T_TICKET_INVALID, "ticket for another service")
m = begin(3, "plain", F_HAS_IR | F_SECURED,
          b"alice@example.com\0alice@example.com\0secret-alice")
check(m[0] == T_AUTH_SUCCESS, "authzid = authcid, lowercase mech name")
ticket = m[2][1]
r = redeem(ticket)
check(r[0] == T_TICKET_USER and r[1] == 77 and
      r[2] == ["alice@example.com",
               os.path.join(dirs["mail"], "alice@example.com"), 0, 0, 0, 0],
      "redeem: %r" % (r,))
r = redeem(ticket)
check(r[0] == T_TICKET_INVALID, "ticket redeemed twice")
r = redeem(b"\0" * 32)
check(r[0] == T_TICKET_INVALID, "zero ticket")
r = redeem(b"short")
check(r[0] == T_TICKET_INVALID, "short ticket")

# user lookup on auth-master (for local delivery): any spelling of the
# address finds the account and its home; unknown and invalid names don't.
M.send(frame(T_USER_LOOKUP, 78, sstr("alice@EXAMPLE.com")))
r = recv(M)
check(r[0] == T_USER_INFO and r[1] == 78 and
      r[2] == ["alice@example.com",
               os.path.join(dirs["mail"], "alice@example.com"), 0, 0, 0, 0],
      "lookup: %r" % (r,))

# ---- account settings: quota and trace, pushed to the master ----
rc, out, err = mailadm("user", "quota", "alice@EXAMPLE.com", "--storage",
                       "10M", "--messages", "100")
check(rc == 0, "user quota: %d %r" % (rc, err))
r = recv(M)
check(r is not None and r[0] == T_USER_SETTINGS and r[1] == 0 and
      r[2] == ["alice@example.com", 10 << 20, 100, 0, 0],
      "quota pushed to the master: %r" % (r,))
rc, out, err = mailadm("user", "quota", "alice@example.com", "--messages",
                       "none")
check(rc == 0, "user quota --messages none")
r = recv(M)
check(r[2] == ["alice@example.com", 10 << 20, 0, 0, 0],
      "a limit not given is kept: %r" % (r,))
rc, out, err = mailadm("user", "trace", "alice@example.com", "traceauth")
check(rc == 0, "user trace")
r = recv(M)
check(r[2] == ["alice@example.com", 10 << 20, 0, 2, 0], "trace pushed: %r" % (r,))
rc, out, err = mailadm("user", "show", "alice@example.com")
check(rc == 0 and "quota-storage: 10485760\n" in out and
      "quota-messages: none\n" in out and "trace: traceauth\n" in out,
      "user show has the settings: %r" % out)
M.send(frame(T_USER_LOOKUP, 81, sstr("alice@example.com")))
r = recv(M)
check(r[0] == T_USER_INFO and r[2][2:] == [10 << 20, 0, 2, 0],
      "lookup carries the settings: %r" % (r,))
for bad, code in ((("--storage", "12Q"), 5), (("--storage", "-1"), 5),
                  (("--messages", "1K"), 5), (("--storage", "99999999T"), 5),
                  ((), 2)):
    rc, out, err = mailadm("user", "quota", "alice@example.com", *bad)
    check(rc == code, "user quota %r: %d %r" % (bad, rc, err))
rc, out, err = mailadm("user", "trace", "alice@example.com", "verbose")
check(rc == 5 and "invalid trace level" in err, "bad trace level: %r" % err)
rc, out, err = mailadm("user", "trace", "nobody@example.com", "trace")
check(rc == 4, "trace of an unknown account")
rc, out, err = mailadm("user", "quota", "alice@example.com", "none")
check(rc == 0, "user quota none")
r = recv(M)
check(r[2] == ["alice@example.com", 0, 0, 2, 0], "none clears both: %r" % (r,))
rc, out, err = mailadm("user", "trace", "alice@example.com", "none")
r = recv(M)
check(rc == 0 and r[2] == ["alice@example.com", 0, 0, 0, 0], "trace none")
rc, out, err = mailadm("user", "set", "alice@example.com", "save-sent", "on")
r = recv(M)
check(rc == 0 and r[2] == ["alice@example.com", 0, 0, 0, 1],
      "save-sent pushed: %r" % (r,))
rc, out, err = mailadm("user", "show", "alice@example.com")
check("save-sent: on\n" in out, "user show save-sent: %r" % out)
rc, out, err = mailadm("user", "set", "alice@example.com", "save-sent", "no")
check(rc == 5, "bad save-sent value: %d" % rc)
rc, out, err = mailadm("user", "set", "alice@example.com", "colour", "on")
check(rc == 5, "unknown setting: %d" % rc)
rc, out, err = mailadm("user", "set", "alice@example.com", "save-sent", "off")
r = recv(M)
check(rc == 0 and r[2] == ["alice@example.com", 0, 0, 0, 0],
      "save-sent off pushed: %r" % (r,))
# a password change keeps the settings (the record is rewritten whole)
rc, out, err = mailadm("user", "quota", "bob@example.com", "--storage", "1G")
r = recv(M)
rc, out, err = mailadm("user", "passwd", "bob@example.com",
                       "--password-stdin", stdin="bob-pw2\n")
rc, out, err = mailadm("user", "show", "bob@example.com")
check("quota-storage: 1073741824\n" in out, "passwd keeps quota: %r" % out)
M.send(frame(T_USER_LOOKUP, 79, sstr("nobody@example.com")))
r = recv(M)
check(r[0] == T_USER_UNKNOWN and r[2] == ["no such user"], "lookup unknown")
M.send(frame(T_USER_LOOKUP, 80, sstr("../etc@example.com")))
r = recv(M)
check(r[0] == T_USER_UNKNOWN and r[2] == ["invalid address"],
      "lookup invalid: %r" % (r,))

m = begin(4, "PLAIN", F_HAS_IR | F_SECURED, b"\0alice@example.com\0WrongPw-123")
check(m[0] == T_AUTH_FAILURE and m[2][0] == FAIL_CREDENTIALS, "wrong pw")
m = begin(5, "PLAIN", F_HAS_IR | F_SECURED, b"\0zed@example.com\0WrongPw-123")
check(m[0] == T_AUTH_FAILURE and m[2][0] == FAIL_CREDENTIALS, "unknown user")
m = begin(6, "PLAIN", F_HAS_IR | F_SECURED,
          b"bob@example.com\0alice@example.com\0secret-alice")
check(m[0] == T_AUTH_FAILURE and m[2][0] == FAIL_CREDENTIALS, "authzid")
m = begin(7, "PLAIN", F_HAS_IR | F_SECURED, b"no-nuls")
check(m[0] == T_AUTH_FAILURE and m[2][0] == FAIL_MALFORMED, "malformed")
m = begin(8, "PLAIN", F_HAS_IR | F_SECURED, b"")
check(m[0] == T_AUTH_FAILURE and m[2][0] == FAIL_MALFORMED, "empty IR")
m = begin(9, "CRAM-MD5", F_SECURED)
check(m[0] == T_AUTH_FAILURE and m[2][0] == FAIL_MECH, "unknown mech")
m = begin(9, "PLAIN result=ok", F_SECURED)
check(m[0] == T_AUTH_FAILURE and m[2][0] == FAIL_MECH, "invalid mech name")
m = begin(9, "X" * 21, F_SECURED)
check(m[0] == T_AUTH_FAILURE and m[2][0] == FAIL_MECH, "long mech name")

# no initial response, interleaved exchanges on one connection
m = begin(10, "PLAIN", F_SECURED)
check(m[0] == T_AUTH_CHALLENGE and m[1] == 10 and m[2] == [b""],
      "empty challenge")
m = begin(11, "PLAIN", F_SECURED)
check(m[0] == T_AUTH_CHALLENGE and m[1] == 11, "second exchange")
m = cont(11, b"\0bob@example.com\0bob-pw2")
check(m[0] == T_AUTH_SUCCESS and m[1] == 11 and
      m[2][0] == "bob@example.com", "continue 11: %r" % (m,))
m = cont(10, b"", F_ABORT)
check(m[0] == T_AUTH_FAILURE and m[1] == 10 and m[2][0] == FAIL_ABORTED,
      "abort")
m = cont(10, b"\0bob@example.com\0bob-pw2")
check(m[0] == T_AUTH_FAILURE and m[2][0] == FAIL_MALFORMED,
      "continue after the end")
# per-connection exchange limit (auth_max_exchanges = 4)
for i in range(20, 24):
    check(begin(i, "PLAIN", F_SECURED)[0] == T_AUTH_CHALLENGE, "open %d" % i)
m = begin(24, "PLAIN", F_SECURED)
check(m[0] == T_AUTH_FAILURE and m[2][0] == FAIL_TEMP, "exchange limit")
for i in range(20, 24):
    cont(i, b"", F_ABORT)

# a duplicate exchange id is a protocol violation: connection dropped
L2 = connect(os.path.join(RUN, "auth-login"))
check(begin(1, "PLAIN", F_SECURED, sock=L2)[0] == T_AUTH_CHALLENGE, "L2")
L2.send(frame(T_AUTH_BEGIN, 1, sstr("PLAIN") + sstr("imap") + u64(1) +
              sstr("x") + u32(F_SECURED) + data(b"") + tls_fields()))
check(recv(L2) is None, "duplicate id drops the connection")
# bad framing / wrong field types / unexpected type / bad version
for bad in (frame(T_AUTH_BEGIN, 1, u32(5)),
            frame(T_AUTH_BEGIN, 1, sstr("PLAIN") + sstr("imap")),
            frame(T_TICKET_REDEEM, 1, data(b"x" * 32) + sstr("imap")),
            frame(T_AUTH_CONTINUE, 1, u32(0) + data(b"") + u32(1)),
            frame(T_AUTH_BEGIN, 1, b"", version=2),
            # the old frame without the TLS fields
            frame(T_AUTH_BEGIN, 1, sstr("PLAIN") + sstr("imap") + u64(1) +
                  sstr("x") + u32(F_SECURED) + data(b"")),
            # unknown binding type, data without a type, oversized data,
            # a client key that is not a fingerprint
            frame(T_AUTH_BEGIN, 1, sstr("PLAIN") + sstr("imap") + u64(1) +
                  sstr("x") + u32(F_SECURED) + data(b"") +
                  tls_fields("tls-server-end-point", b"x" * 32)),
            frame(T_AUTH_BEGIN, 1, sstr("PLAIN") + sstr("imap") + u64(1) +
                  sstr("x") + u32(F_SECURED) + data(b"") +
                  tls_fields("", b"x" * 32)),
            frame(T_AUTH_BEGIN, 1, sstr("PLAIN") + sstr("imap") + u64(1) +
                  sstr("x") + u32(F_SECURED) + data(b"") +
                  tls_fields("tls-exporter", b"x" * 65)),
            frame(T_AUTH_BEGIN, 1, sstr("PLAIN") + sstr("imap") + u64(1) +
                  sstr("x") + u32(F_SECURED) + data(b"") +
                  tls_fields("", b"", "A" * 42 + "=")),
            b"\x01\x02\x03"):
    s = connect(os.path.join(RUN, "auth-login"))
    s.send(bad)
    check(recv(s) is None, "garbage drops the connection: %r" % bad[:20])
    s.close()
L2.close()
# the first connection survived all that
m = begin(30, "PLAIN", F_HAS_IR | F_SECURED, b"\0bob@example.com\0bob-pw2")
check(m[0] == T_AUTH_SUCCESS, "L still works")
L.close()

# ---- many accounts: user list pages through the admin socket ----
if not VALGRIND:
    n = 1100
    base = "x" * 50
    for i in range(n):
        # direct requests: mailadm per user would take long
        a = connect(os.path.join(RUN, "auth-admin"))
        a.send(frame(500, 1, sstr("user-add") + u32(2) +
                     sstr("%s%04d@example.com" % (base, i)) + sstr("pw")))
        m = recv(a, timeout=30)
        a.close()
        if m[2][0] != 0:
            check(False, "bulk add %d: %r" % (i, m))
            break
    rc, out, err = mailadm("user", "list")
    lines = out.splitlines()
    check(rc == 0 and len(lines) == n + 2 and len(set(lines)) == n + 2 and
          lines == sorted(lines), "paged list: %d lines" % len(lines))

# ---- SIGTERM: clean exit 0 ----
M.close()
proc.send_signal(signal.SIGTERM)
rc = proc.wait(timeout=120)
check(rc == 0, "SIGTERM exit status %d" % rc)

# ---- restart (recovery), then lifeline EOF ends it ----
proc, master, life_w = start()
rc, out, err = mailadm("user", "list")
check(rc == 0 and out.startswith("alice@example.com\nbob@example.com\n"),
      "accounts survive a restart")
os.close(life_w)
rc = proc.wait(timeout=120)
check(rc == 0, "lifeline EOF exit status %d" % rc)

# ---- running daemon locks out the offline tool ----
proc, master, life_w = start()
rc, err = add_offline("eve@example.com", "x")
check(rc == 1 and "in use by another process" in err,
      "offline add while running: %r" % err)
master.close()  # master channel gone: exit too
rc = proc.wait(timeout=120)
check(rc == 0, "master channel EOF exit status %d" % rc)

# ---- mailadm when nothing listens ----
rc, out, err = mailadm("user", "list")
check(rc == 1 and "cannot connect to auth daemon at" in err and
      "is postern running?" in err, "not running: %r" % err)

# ---- the log: one line per attempt, never a password ----
with open(LOG) as f:
    log = f.read()
for secret in ("secret-alice", "bob-pw", "WrongPw"):
    check(secret not in log, "password %r in the log" % secret)
check("mech=PLAIN service=imap result=fail reason=wrong-password "
      "name=alice@example.com" in log, "failure log line")
check("session=1122334455667788" in log and "remote=192.0.2.7" in log,
      "session and remote in the log")
check("reason=plaintext-without-tls" in log, "no-TLS log line")
check("PLAIN result=ok" not in log, "client mech name kept out of the log")
check("reason=login-connection-closed" in log, "open exchange on a dropped "
      "connection is logged")


# ---- root mode: privilege drop and SO_PEERCRED checks ----
def root_mode():
    import grp
    import pwd
    try:
        auth_pw = pwd.getpwnam("postern-auth")
        login_pw = pwd.getpwnam("postern-login")
        pwd.getpwnam("vmail")
        grp.getgrnam("postern-admin")
    except KeyError:
        print("skipping root mode: system users not present")
        return False
    # an interpreter other users can run (not one under /root)
    PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") \
        else sys.executable
    rdir = os.path.join(tmp, "root")
    os.mkdir(rdir)
    rd = {k: os.path.join(rdir, k) for k in ("run", "auth", "mail")}
    for k, d in rd.items():
        os.mkdir(d, 0o700 if k == "auth" else 0o755)
        os.chown(d, auth_pw.pw_uid, auth_pw.pw_gid)
    rconf = os.path.join(rdir, "postern.conf")
    with open(rconf, "w") as f:
        f.write(f"state_dir = {rdir}\nrun_dir = {rd['run']}\n"
                f"auth_dir = {rd['auth']}\nmail_dir = {rd['mail']}\n")
    master, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    life_r, life_w = os.pipe()
    cfd = child.fileno()

    def fds():
        os.dup2(cfd, 3)
        os.dup2(life_r, 4)

    log = open(LOG, "a")
    p = subprocess.run([AUTH, "-c", rconf, "--add-user", "root@example.com",
                        "--password-stdin"], input=b"rootpw\n", stderr=log)
    check(p.returncode == 0, "root mode offline add")
    proc = subprocess.Popen([AUTH, "-c", rconf], preexec_fn=fds, stdout=log,
                            stderr=log, close_fds=False)
    log.close()
    child.close()
    os.close(life_r)
    m = recv(master, timeout=20)
    check(m is not None and m[0] == T_CHILD_READY, "root mode READY")
    with open("/proc/%d/status" % proc.pid) as f:
        st = dict(line.split(":", 1) for line in f.read().splitlines())
    check(st["Uid"].split()[0] == str(auth_pw.pw_uid), "runs as postern-auth")
    check(int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0,
          "no capabilities")
    check(st.get("NoNewPrivs", "").strip() == "1", "no-new-privs")
    rrun = rd["run"]
    # root may administer; nobody is told why it may not
    p = subprocess.run([MAILADM, "-c", rconf, "user", "list"],
                       capture_output=True, text=True)
    check(p.returncode == 0 and p.stdout == "root@example.com\n",
          "root mailadm: %r" % p.stderr)
    p = subprocess.run([MAILADM, "-c", rconf, "user", "list"],
                       capture_output=True, text=True, user=65534,
                       group=65534, extra_groups=[])
    check(p.returncode == 7 and p.stderr.startswith(
        "mailadm: permission denied: uid 65534"), "denied: %r" % p.stderr)
    # auth-login: the login user yes, nobody no
    out = subprocess.run(
        [PY, "-c",
         "import socket,sys\n"
         "s=socket.socket(socket.AF_UNIX,socket.SOCK_SEQPACKET)\n"
         "s.connect(sys.argv[1]); s.settimeout(10)\n"
         "import struct\n"
         "def st(x):\n"
         " b=x.encode(); return b'\\x03'+struct.pack('=I',len(b)+1)+b+b'\\0'\n"
         "p=st('PLAIN')+st('imap')+b'\\x02'+struct.pack('=Q',1)+st('x')"
         "+b'\\x01'+struct.pack('=I',2)+b'\\x04'+struct.pack('=I',0)"
         "+st('')+b'\\x04'+struct.pack('=I',0)+st('')\n"
         "s.send(struct.pack('=IIIHH',100,len(p),1,0,1)+p)\n"
         "print('reply' if s.recv(1000) else 'closed')\n",
         os.path.join(rrun, "auth-login")],
        capture_output=True, text=True, user=login_pw.pw_uid,
        group=login_pw.pw_gid, extra_groups=[])
    check(out.stdout.strip() == "reply", "login user on auth-login: %r" %
          (out.stdout + out.stderr))
    out = subprocess.run(
        [PY, "-c",
         "import socket,sys\n"
         "s=socket.socket(socket.AF_UNIX,socket.SOCK_SEQPACKET)\n"
         "s.connect(sys.argv[1]); s.settimeout(10)\n"
         "print('closed' if not s.recv(1000) else 'reply')\n",
         os.path.join(rrun, "auth-login")],
        capture_output=True, text=True, user=65534, group=65534,
        extra_groups=[])
    check(out.stdout.strip() == "closed", "nobody refused on auth-login")
    proc.send_signal(signal.SIGTERM)
    check(proc.wait(timeout=30) == 0, "root mode SIGTERM")
    os.close(life_w)
    master.close()
    return True


root_ran = AS_ROOT and not VALGRIND and root_mode()

with open(LOG) as f:
    log = f.read()
check("refused connection from uid=65534" in log or not root_ran,
      "refusal logged")

if VALGRIND:
    for name in os.listdir(dirs["vg"]):
        if name.startswith("valgrind."):
            with open(os.path.join(dirs["vg"], name)) as f:
                text = f.read()
            check("ERROR SUMMARY: 0 errors" in text,
                  "valgrind clean: " + name)

print("%d checks, %d failed" % (checks, failures))
if failures:
    print("log and files kept in", tmp)
    sys.exit(1)
subprocess.run(["rm", "-rf", tmp])
