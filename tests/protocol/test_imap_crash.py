"""Crash safety: the user's worker is killed with SIGKILL at random moments
while a client APPENDs, COPYs and EXPUNGEs. After each restart every
acknowledged change is there, no multi-message change is half applied, and
UIDs are never reused."""

import os
import random
import re
import signal
import threading
import time

import helpers
from imapa import code_of, message, ok, poke, users_fixture

U, P = "crash@example.org", "crash-pw-1"
ROUNDS = 15
COPY_N = 5


users = users_fixture((U, P))


class Killer(threading.Thread):
    """Kills the user's worker after a random delay."""

    def __init__(self, instance, rng):
        super().__init__(daemon=True)
        self.instance = instance
        self.delay = rng.uniform(0.05, 0.6)
        self.killed = None

    def run(self):
        time.sleep(self.delay)
        for pid in self.instance.worker_pids(U):
            try:
                os.kill(pid, signal.SIGKILL)
                self.killed = pid
            except OSError:
                pass


def cmd(c, tag, text):
    c.send(("%s %s\r\n" % (tag, text)).encode())
    return c.read_until_tagged(tag)


def test_kill9_during_changes(instance):
    rng = random.Random(4242)
    c = instance.login(U, P)
    ok(c, "c1", "CREATE crash")
    ok(c, "c2", "CREATE crash-copy")
    c.close()
    acked = set()        # UIDs in "crash" whose APPEND was acknowledged
    gone = set()         # acknowledged UID EXPUNGE
    maybe_gone = []      # UID EXPUNGE sets sent but not acknowledged
    copies_acked = 0     # acknowledged COPYs of COPY_N messages
    last_uid = 0
    kills = 0
    n = 0
    for rnd in range(ROUNDS):
        c = instance.login(U, P)
        ok(c, "s", "SELECT crash")
        killer = Killer(instance, rng)
        killer.start()
        try:
            while True:
                n += 1
                msg = message(n, size=rng.choice((100, 3000, 40000)))
                lines = cmd(c, "a%d" % n, "APPEND crash {%d+}\r\n%s" % (
                    len(msg), msg.decode()))
                if lines[-1].startswith(b"a%d OK" % n):
                    uid = int(code_of(lines[-1], "APPENDUID").split()[1])
                    # UIDs only grow, also across crashes
                    assert uid > last_uid, (uid, last_uid)
                    last_uid = uid
                    acked.add(uid)
                live = sorted(acked - gone - {u for s in maybe_gone
                                              for u in s})
                if n % 3 == 0 and len(live) >= COPY_N:
                    pick = rng.sample(live, COPY_N)
                    lines = cmd(c, "c%d" % n, "UID COPY %s crash-copy" %
                                ",".join(map(str, pick)))
                    if lines[-1].startswith(b"c%d OK" % n):
                        copies_acked += 1
                if n % 4 == 0 and len(live) >= 3:
                    pick = set(rng.sample(live, 3))
                    maybe_gone.append(pick)
                    s = ",".join(map(str, sorted(pick)))
                    cmd(c, "d%d" % n, "UID STORE %s +FLAGS.SILENT "
                        "(\\Deleted)" % s)
                    lines = cmd(c, "e%d" % n, "UID EXPUNGE %s" % s)
                    if lines[-1].startswith(b"e%d OK" % n):
                        maybe_gone.pop()
                        gone |= pick
        except (helpers.ConnectionClosed, ConnectionResetError,
                BrokenPipeError, OSError):
            pass
        killer.join()
        c.close()
        if killer.killed is not None:
            kills += 1
            helpers.wait_for(lambda: not helpers.pid_alive(killer.killed),
                             timeout=10, what="killed worker to go")
    assert kills >= ROUNDS - 2
    # after the last restart: check everything
    c = instance.login(U, P)
    ok(c, "s", "SELECT crash")
    lines, _ = ok(c, "u", "UID SEARCH ALL")
    present = {int(x) for x in lines[0].split()[2:]}
    assert acked - gone - {u for s in maybe_gone for u in s} <= present, \
        sorted(acked - gone - present)
    assert not (gone & present), sorted(gone & present)
    for s in maybe_gone:
        # one transaction: all of the set or none of it
        assert s <= present or not (s & present), (s, s & present)
    lines, _ = ok(c, "st", "STATUS crash-copy (MESSAGES)")
    copied = int(re.search(rb"MESSAGES (\d+)", lines[0]).group(1))
    assert copied % COPY_N == 0 and copied >= copies_acked * COPY_N, \
        (copied, copies_acked)
    c.close()
    print("\n%d kills, %d APPENDs acknowledged, %d COPYs, %d EXPUNGEs, "
          "%d unacknowledged EXPUNGEs" % (kills, len(acked), copies_acked,
                                          len(gone) // 3, len(maybe_gone)))
    # files of saves the kills cut short are collected by the next open
    # once older than the store's grace period (10 s): then the store's
    # records, files and counters must agree exactly
    time.sleep(11)
    assert "consistent" in poke(instance, U, "check", "INBOX")
