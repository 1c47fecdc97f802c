#!/usr/bin/env python3
"""Run a command under a pseudo-terminal and answer its PIN prompts from a file.

usage: answer-pin-prompt.py PIN_FILE COMMAND [ARGS...]

Tools such as OpenSC's pkcs11-tool read a PIN only from a terminal (or from
argv, where `ps` shows it). Tests use them as independent PKCS#11 clients, so
this wrapper gives them a terminal, waits for each prompt that mentions a PIN,
types the PIN from PIN_FILE, and passes the rest of the output through.
It exits with the command's exit status (128+N if killed by signal N).
"""
import os
import pty
import re
import select
import sys

PROMPT = re.compile(rb"PIN[^\n]*:\s*$")


def main():
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    with open(sys.argv[1], "rb") as f:
        pin = f.read().rstrip(b"\r\n")
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(sys.argv[2], sys.argv[2:])
    pending = b""
    out = sys.stdout.buffer
    while True:
        try:
            ready, _, _ = select.select([fd], [], [], 120)
        except InterruptedError:
            continue
        if not ready:
            os.kill(pid, 9)
            sys.stderr.write("answer-pin-prompt.py: no output for 120 s, killed\n")
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        pending += chunk
        # Answer a prompt only once its line is complete on screen.
        if PROMPT.search(pending):
            out.write(pending)
            pending = b""
            os.write(fd, pin + b"\n")
        elif b"\n" in pending:
            head, _, pending = pending.rpartition(b"\n")
            out.write(head + b"\n")
        out.flush()
    out.write(pending)
    out.flush()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main())
