"""`make soak`: the conservation scenario at full size; prints the ledger, exits 1 on any difference."""

import argparse
import sys

from rich.console import Console

from tests.soak.scenario import Plan, run, show


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument("--orders", type=int, default=Plan.orders, help=f"orders to publish (default {Plan.orders})")
    arguments = parser.parse_args()
    console = Console()
    result = run(Plan(orders=arguments.orders), console)
    show(result, console)
    sys.exit(0 if result.balanced else 1)


if __name__ == "__main__":
    main()
