#!/usr/bin/python3
"""Every public header compiles on its own, and twice in a row.

For each lib/*.h (found by glob, so a new header is covered without editing
anything) a translation unit containing only that header, included twice
(the second time exercises the include guard, which must also open the file),
is compiled with the project's C dialect and -Werror. A header that leans on
something its includer happened to include first fails here instead of in
somebody else's file later.

usage: headers_alone.py --src SRCDIR --build BUILDDIR [--cflag=X ...] -- CC...
"""
import argparse
import concurrent.futures
import glob
import os
import re
import subprocess
import sys
import tempfile

FLAGS = ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror"]


GUARD_RE = re.compile(r"\A(?:\s|/\*.*?\*/|//[^\n]*\n)*"
                      r"(?:#\s*pragma\s+once\b|"
                      r"#\s*ifndef\s+(\w+)\s*\n\s*#\s*define\s+(\w+)\b)",
                      re.S)


def has_guard(path):
    """The header opens (after comments) with #pragma once or with
    #ifndef X / #define X. Including twice only catches a missing guard when
    the header defines something, so the text is checked too."""
    with open(path, encoding="utf-8", errors="replace") as f:
        m = GUARD_RE.match(f.read())
    return m is not None and m.group(1) == m.group(2)


def check_header(cc, cflags, src, build, header, tmpdir):
    name = os.path.basename(header)
    if not has_guard(header):
        return name, 1, "no include guard (#ifndef X / #define X) at the top", []
    stem = os.path.splitext(name)[0]
    c_file = os.path.join(tmpdir, "alone_%s.c" % stem)
    with open(c_file, "w") as f:
        f.write('#include "%s"\n#include "%s"\n' % (name, name))
        # keeps the unit non-empty for headers that only declare
        f.write("int alone_%s_unit;\n" % stem)
    cmd = (cc + FLAGS + cflags +
           ["-I", os.path.join(src, "lib"), "-I", build,
            "-c", c_file, "-o", os.path.join(tmpdir, "alone_%s.o" % stem)])
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    return name, r.returncode, r.stdout, cmd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--cflag", action="append", default=[])
    ap.add_argument("cc", nargs="+", help="compiler command after --")
    args = ap.parse_args()

    headers = sorted(glob.glob(os.path.join(args.src, "lib", "*.h")))
    if not headers:
        print("no headers under %s/lib: wrong --src?" % args.src)
        return 1
    failed = []
    with tempfile.TemporaryDirectory(prefix="postern-hdr-") as tmpdir:
        with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as ex:
            jobs = [ex.submit(check_header, args.cc, args.cflag, args.src,
                              args.build, h, tmpdir) for h in headers]
            for job in jobs:
                name, rc, out, cmd = job.result()
                if rc == 0:
                    print("ok   lib/%s" % name)
                else:
                    failed.append(name)
                    print("FAIL lib/%s\n  %s\n%s" % (name, " ".join(cmd), out))
    print("%d headers, %d not self-contained%s" %
          (len(headers), len(failed), ": " + " ".join(failed) if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
