"""Register drops as partitions without the sensor: ``python -m pixels_pipeline.drops add KEY...``.

Uses the Dagster instance of ``$DAGSTER_HOME``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from dagster import DagsterInstance

from pixels_pipeline.partitions import drops_partitions
from pixels_pipeline.storage.landing import InvalidDropIdError, check_drop_ids


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="add drop ids as partitions of 'drops'")
    add.add_argument("drop_ids", nargs="+")
    sub.add_parser("list", help="list the registered drops")
    args = parser.parse_args(argv)
    name = drops_partitions.name
    assert name is not None
    with DagsterInstance.get() as instance:
        if args.command == "add":
            try:
                check_drop_ids(args.drop_ids)
            except InvalidDropIdError as exc:
                parser.error(str(exc))
            instance.add_dynamic_partitions(name, list(args.drop_ids))
        for key in instance.get_dynamic_partitions(name):
            print(key)


if __name__ == "__main__":
    main()
