"""`orderctl demo` on a terminal: the progress display, and none of the function's output on the screen.

Rich draws its progress only on a terminal, so the demo runs under a pseudo-terminal here. The function's
metrics (EMF JSON) and logs belong in its log group: on a terminal they once leaked onto the screen."""

from __future__ import annotations

import contextlib
import os
import pty
import subprocess
import sys
from pathlib import Path

ORDERCTL = Path(sys.executable).with_name("orderctl")


def test_the_demo_on_a_terminal_shows_no_function_output() -> None:
    controller, terminal = pty.openpty()
    environment = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "40"}
    process = subprocess.Popen(
        [str(ORDERCTL), "demo"], stdin=terminal, stdout=terminal, stderr=terminal, env=environment
    )
    os.close(terminal)
    screen = bytearray()
    with contextlib.suppress(OSError):  # EIO once the demo exits and the terminal closes
        while chunk := os.read(controller, 65536):
            screen += chunk
    os.close(controller)
    assert process.wait(timeout=120) == 0, screen.decode(errors="replace")[-2000:]
    text = screen.decode(errors="replace")
    assert "\x1b[" in text  # drawn as on a terminal
    assert "valid orders stored" in text
    assert "CloudWatchMetrics" not in text
    assert '"_aws"' not in text
    assert '"level"' not in text
