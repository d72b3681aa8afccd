#!/usr/bin/python3
"""Fails if a C source calls a function the house style bans.

The banned calls have bounded replacements in lib/ (snprintf, str_cpy,
strnum_*, struct buf). Comments and string/character literals are blanked
before matching, so prose that names a call is fine; a call through a member
(x.gets(), p->strcpy()) is not the libc function and is ignored.

usage: banned_calls.py --root SRCDIR [DIR...]   scan DIRs (default: the daemons)
       banned_calls.py --self-test              check the matcher itself
"""
import argparse
import os
import re
import sys

BANNED = ("strcpy", "strcat", "sprintf", "vsprintf", "gets", "strtok", "atoi",
          "atol", "sscanf", "strncpy", "alloca")
# Directories of shipped code. Missing ones are skipped (the tree grows).
DEFAULT_DIRS = ("lib", "master", "imap-login", "imap", "auth", "admin",
                "submission", "storage")

# A whole-word name followed by "(", not preceded by an identifier character,
# "." or "->". strtok_r, snprintf, str_cpy... do not match.
CALL_RE = re.compile(r"(?<![\w.])(?<!->)\b(" + "|".join(BANNED) + r")\s*\(")


def blank_comments_and_literals(text):
    """Replaces comments and literals with spaces, keeping newlines so line
    numbers stay right."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(re.sub(r"[^\n]", " ", text[i:end]))
            i = end
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j - 1]) + c)
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def find_calls(text):
    """[(line, name)] of banned calls in C source text."""
    clean = blank_comments_and_literals(text)
    hits = []
    for m in CALL_RE.finditer(clean):
        hits.append((clean.count("\n", 0, m.start()) + 1, m.group(1)))
    return hits


def scan(root, dirs):
    hits = []
    nfiles = 0
    for d in dirs:
        top = os.path.join(root, d)
        if not os.path.isdir(top):
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for name in sorted(filenames):
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                nfiles += 1
                rel = os.path.relpath(path, root)
                for line, call in find_calls(text):
                    hits.append("%s:%d: banned call %s()" % (rel, line, call))
    return nfiles, hits


SELF_TEST_BAD = """\
void f(char *d, const char *s)
{
	strcpy(d, s);
	x = atoi (s);
	sprintf(d, "%d", 1); sscanf(s, "%d", &i);
	char *t = strtok(d, " ");
	p = alloca(10);
	if (gets(d)) strncpy(d, s, 1);
	strcat(d, s); atol(s); vsprintf(d, s, ap);
}
"""
SELF_TEST_BAD_WANT = [(3, "strcpy"), (4, "atoi"), (5, "sprintf"), (5, "sscanf"),
                      (6, "strtok"), (7, "alloca"), (8, "gets"), (8, "strncpy"),
                      (9, "strcat"), (9, "atol"), (9, "vsprintf")]
SELF_TEST_GOOD = """\
/* strcpy(d, s) is banned; use str_cpy. A comment
 * spanning lines: sprintf(x) */
// atoi(x) in a line comment
void g(char *d, const char *s)
{
	snprintf(d, 10, "strcpy(%s)", s);
	vsnprintf(d, 10, s, ap);
	str_cpy(d, s, 10);
	char *save; strtok_r(d, " ", &save);
	my_strcpy(d, s); strcpy_safe(d); xatoi(s);
	c = 'a'; e = "\\"atoi(\\""; q = '\\'';
	ops->gets(d); ops.strcat(d);
	int strcpy_len = 1;
}
"""


def self_test():
    got = find_calls(SELF_TEST_BAD)
    ok = True
    if sorted(got) != sorted(SELF_TEST_BAD_WANT):
        print("bad sample: got %r\nwant %r" % (got, SELF_TEST_BAD_WANT))
        ok = False
    got = find_calls(SELF_TEST_GOOD)
    if got:
        print("good sample flagged: %r" % (got,))
        ok = False
    # line numbers survive multi-line comments
    got = find_calls("/*\n\n*/\nx;\natoi(s);\n")
    if got != [(5, "atoi")]:
        print("line numbering: got %r" % (got,))
        ok = False
    print("self-test %s" % ("passed" if ok else "FAILED"))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=".")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("dirs", nargs="*")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    nfiles, hits = scan(args.root, args.dirs or DEFAULT_DIRS)
    for h in hits:
        print(h)
    if nfiles == 0:
        print("no C files found under %s: wrong --root?" % args.root)
        return 1
    print("%d files scanned, %d banned calls" % (nfiles, len(hits)))
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main())
