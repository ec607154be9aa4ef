"""Run the storage SCP: ``python -m pixels_pipeline.scp --host H --port P --ae-title T``.

Received associations become drops of ``$PIXELS_LANDING`` (or ``--landing``); object-store
settings come from the standard ``AWS_*`` variables. Stops on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from pixels_pipeline.exit_status import keep_exit_status
from pixels_pipeline.scp.config import DEFAULT_AE_TITLE, DEFAULT_PORT, ScpConfig
from pixels_pipeline.scp.server import StorageScp
from pixels_pipeline.scp.store import DropStore
from pixels_pipeline.storage.aws_env import anonymous_from_env, with_env_defaults
from pixels_pipeline.storage.uri import StorageOptions

LANDING_VARIABLE = "PIXELS_LANDING"
ALLOWED_AE_VARIABLE = "PIXELS_SCP_ALLOWED_AE"  # comma-separated calling AE titles
ALLOWED_NETWORKS_VARIABLE = "PIXELS_SCP_ALLOWED_NETWORKS"  # comma-separated addresses/CIDRs


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def parse_args(argv: Sequence[str] | None = None) -> tuple[ScpConfig, str]:
    """Settings from the command line, with the environment as defaults; and the log level."""
    parser = argparse.ArgumentParser(prog="python -m pixels_pipeline.scp", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--ae-title", default=DEFAULT_AE_TITLE, help="this SCP's AE title")
    parser.add_argument("--landing", default=None, help=f"landing-zone URI (${LANDING_VARIABLE})")
    parser.add_argument(
        "--allow-ae",
        action="append",
        default=None,
        help=f"allowed calling AE title, repeatable (${ALLOWED_AE_VARIABLE}); default: any",
    )
    parser.add_argument(
        "--allow-network",
        action="append",
        default=None,
        help=f"allowed peer address or CIDR, repeatable (${ALLOWED_NETWORKS_VARIABLE})",
    )
    parser.add_argument("--max-associations", type=int, default=4)
    parser.add_argument("--max-dataset-mb", type=float, default=2048.0)
    parser.add_argument("--network-timeout", type=float, default=60.0, help="idle seconds")
    parser.add_argument(
        "--stale-after",
        type=float,
        default=3600.0,
        help="seconds before start-up removes an incomplete SCP drop",
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    landing = args.landing or os.environ.get(LANDING_VARIABLE)
    if not landing:
        parser.error(f"--landing or ${LANDING_VARIABLE} is required")
    try:
        config = ScpConfig(
            landing=landing,
            host=args.host,
            port=args.port,
            ae_title=args.ae_title,
            allowed_ae_titles=tuple(args.allow_ae or _split(os.environ.get(ALLOWED_AE_VARIABLE))),
            allowed_networks=tuple(
                args.allow_network or _split(os.environ.get(ALLOWED_NETWORKS_VARIABLE))
            ),
            max_associations=args.max_associations,
            max_dataset_bytes=int(args.max_dataset_mb * 1024 * 1024),
            network_timeout_s=args.network_timeout,
            stale_after_s=args.stale_after,
        )
    except ValueError as exc:
        parser.error(str(exc))
    return config, args.log_level.upper()


def main(argv: Sequence[str] | None = None) -> None:
    config, log_level = parse_args(argv)
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(message)s")
    # pynetdicom logs SOP Instance UIDs (and, at debug, datasets): keep it to warnings.
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    options = with_env_defaults(
        StorageOptions(anonymous=anonymous_from_env(os.environ)), os.environ
    )
    scp = StorageScp(config, DropStore(config.landing, options))
    if not config.allowed_ae_titles and not config.allowed_networks:
        logging.getLogger(__name__).warning(
            "no allow-list: any calling AE title from any address may store images"
        )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    scp.start()
    while not stop.wait(1.0):
        pass
    scp.stop()
    stats = scp.stats()
    logging.getLogger(__name__).info(
        f"stopped: {stats.drops_completed} drop(s) completed, {stats.files_stored} file(s) "
        f"stored, {stats.drops_discarded} discarded, {stats.rejected} association(s) rejected"
    )


if __name__ == "__main__":
    keep_exit_status()
    main()
    sys.exit(0)
