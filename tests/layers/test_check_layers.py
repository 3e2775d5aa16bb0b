#!/usr/bin/env python3
"""scripts/check-layers on a copy of the tree: it passes as the tree is,
and each include that crosses a layer the wrong way, put into one file of
the copy, makes it fail and name that file and line."""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
CHECK = os.path.join(TOP, "scripts", "check-layers")

# (file, include added, what the report must say)
WRONG = [
    ("lib/util/log.c", "smtp/smtp_addr.h", 'util includes "smtp/smtp_addr.h" of smtp, a higher layer'),
    ("src/mxrelayd/queue/queue_store.c", "server/server.h",
     'queue includes "server/server.h" of server, a higher layer'),
    ("src/mxrelayd/policy/policy.c", "queue/queue_store.h",
     'policy includes "queue/queue_store.h" of queue, a module it does not use'),
    ("src/mxrelay/cmd_queue.c", "delivery/sched.h",
     'cli includes "delivery/sched.h" of delivery, a module it does not use'),
    ("src/mxrelay/cmd_send.c", "client_session.h", '"client_session.h" is private to lib/client/'),
    ("src/mxrelayd/main.c", "queue_int.h", '"queue_int.h" is private to src/mxrelayd/queue/'),
    ("src/mxrelayd/server/smtpd_cmds.c", "../queue/queue_int.h", "climbs out of its folder"),
    ("tests/unit/server/test_smtpd_cmds.c", "queue_int.h", '"queue_int.h" is private'),
]


def run(root):
    return subprocess.run([sys.executable, CHECK, "--root", root], capture_output=True, text=True)


def main():
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for d in ("lib", "src", "include", "tests/unit", "fuzz"):
            shutil.copytree(os.path.join(TOP, d), os.path.join(tmp, d))
        r = run(tmp)
        if r.returncode != 0:
            print("the tree as it is fails:\n" + r.stdout + r.stderr)
            return 1
        for rel, header, want in WRONG:
            path = os.path.join(tmp, rel)
            with open(path) as f:
                text = f.read()
            lines = text.split("\n")
            at = next(i for i, l in enumerate(lines) if l.startswith("#include \""))
            lines.insert(at, f'#include "{header}"')
            with open(path, "w") as f:
                f.write("\n".join(lines))
            r = run(tmp)
            with open(path, "w") as f:
                f.write(text)
            line = f"{rel}:{at + 1}: "
            if r.returncode != 1 or line not in r.stdout or want not in r.stdout:
                print(f"FAIL {rel} + {header}: rc={r.returncode}, want '{line}...{want}', got:\n{r.stdout}")
                failures += 1
            else:
                print(f"ok   {rel} + \"{header}\" refused: {r.stdout.strip()}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
