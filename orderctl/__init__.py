"""orderctl: run the pipeline offline, and operate a deployed stack (publish, look up, inspect and redrive the DLQ)."""
