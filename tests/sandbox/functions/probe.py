"""Purpose-built handlers for the execution environment tests; each does one thing Lambda must handle."""

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

Event = dict[str, Any]


def echo(event: Event, context: Any) -> dict[str, Any]:
    return {"event": event, "remaining_ms": context.get_remaining_time_in_millis(), "pid": os.getpid()}


def environment(event: Event, context: Any) -> dict[str, Any]:
    importable: dict[str, bool] = {}
    for name in event["modules"]:
        try:
            __import__(name)
            importable[name] = True
        except ImportError:
            importable[name] = False
    return {"environ": dict(os.environ), "path": sys.path, "importable": importable}


def spin(event: Event, context: Any) -> str:
    """Needs `cpu_seconds` of CPU time."""
    end = time.process_time() + event["cpu_seconds"]
    while time.process_time() < end:
        pass
    return "done"


def write_forever(event: Event, context: Any) -> None:
    """Appends a line to `path` every 20 ms until stopped."""
    while True:
        with open(event["path"], "a") as out:
            out.write(f"{time.time()}\n")
        time.sleep(0.02)


def overlap(event: Event, context: Any) -> dict[str, Any]:
    """Notes its pid and the start and end of its work in the directory its SQS record names."""
    start = time.time()
    directory = json.loads(event["Records"][0]["body"])["directory"]
    time.sleep(0.3)
    with open(Path(directory) / f"{os.getpid()}-{start}", "w") as out:
        json.dump({"pid": os.getpid(), "start": start, "end": time.time()}, out)
    return {"batchItemFailures": []}


def unserialisable(event: Event, context: Any) -> dict[str, Any]:
    return {"batchItemFailures": [], "when": {1, 2}}


def hog(event: Event, context: Any) -> int:
    blocks = [bytearray(1024 * 1024) for _ in range(event["mb"])]
    return len(blocks)


def boom(event: Event, context: Any) -> None:
    raise ValueError("the handler failed on purpose")


def nap(event: Event, context: Any) -> dict[str, Any]:
    """Sleeps `seconds`; says which environment (pid) and version (VERSION) answered."""
    time.sleep(event["seconds"])
    return {"pid": os.getpid(), "version": os.environ.get("VERSION")}
