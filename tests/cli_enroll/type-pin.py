#!/usr/bin/env python3
"""Run a command on a pseudo-terminal and type the PIN, from a file, at its prompt.

usage: type-pin.py [--answer=pin|empty|long|nul|interrupt] PIN_FILE COMMAND [ARGS...]

It types only once the program has switched terminal echo off after its
prompt: that is when a PIN may be typed, and what it checks is that the
PIN would not show. Typing earlier races the program's
own tcsetattr(TCSAFLUSH), which throws typed-ahead input away.

--answer says what is typed at the prompt: the PIN (the default), an empty
line, a line of 300 characters (longer than any PIN tokenkey sends), the
PIN with a NUL (Ctrl-@) in its middle, or the terminal's interrupt
character (Ctrl-C).

The command's output is passed through with CRLF turned into LF; the exit
status is the command's (128+N if killed by signal N; 124 after 60 s of
silence; 125 when echo never went off after a prompt; 126 when the command
ended and left echo off).
"""
import os
import pty
import re
import select
import sys
import termios
import time

PROMPT = re.compile(rb"PIN[^\n]*:\s*$")


def echo_off(fd, wait):
    """Whether the terminal's ECHO flag goes off within wait seconds."""
    end = time.monotonic() + wait
    while time.monotonic() < end:
        if not termios.tcgetattr(fd)[3] & termios.ECHO:
            return True
        time.sleep(0.01)
    return False


def main():
    args = sys.argv[1:]
    answer = "pin"
    if args and args[0].startswith("--answer="):
        answer = args.pop(0).split("=", 1)[1]
    if len(args) < 2 or answer not in ("pin", "empty", "long", "nul", "interrupt"):
        sys.stderr.write(__doc__)
        return 2
    with open(args[0], "rb") as f:
        pin = f.read().rstrip(b"\r\n")
    typed = {"pin": pin + b"\n", "empty": b"\n", "long": b"x" * 300 + b"\n",
             "nul": pin[:2] + b"\x00" + pin[2:] + b"\n", "interrupt": b"\x03"}[answer]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(args[1], args[1:])
    out = sys.stdout.buffer
    pending = b""
    status = None
    answered = False
    while True:
        ready, _, _ = select.select([fd], [], [], 60)
        if not ready:
            os.kill(pid, 9)
            status = 124
            break
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out.write(data.replace(b"\r\n", b"\n"))
        out.flush()
        pending = (pending + data)[-256:]
        # Anything but the PIN is answered once: the message that follows may look like a prompt.
        if PROMPT.search(pending) and (answer == "pin" or not answered):
            answered = True
            pending = b""
            # tcgetattr on the master reads the terminal the program set up.
            if not echo_off(fd, 10):
                os.kill(pid, 9)
                status = 125
                break
            os.write(fd, typed)
    _, wstatus = os.waitpid(pid, 0)
    if status is not None:
        return status
    # The terminal outlives the command, as a user's shell does: echo must be on again.
    if not termios.tcgetattr(fd)[3] & termios.ECHO:
        return 126
    if os.WIFSIGNALED(wstatus):
        return 128 + os.WTERMSIG(wstatus)
    return os.WEXITSTATUS(wstatus)


if __name__ == "__main__":
    sys.exit(main())
