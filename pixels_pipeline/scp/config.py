"""Settings of the storage SCP, grouped in one frozen record."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

DEFAULT_PORT = 11112  # the registered DICOM port
DEFAULT_AE_TITLE = "PIXELS"


@dataclass(frozen=True)
class ScpConfig:
    """Where the SCP listens, who may send, and how much it accepts.

    Empty allow-lists accept every caller (the CLI warns about it); a non-empty one
    rejects any other calling AE title or address at association time.
    """

    landing: str  # landing-zone URI: a local folder or s3://bucket/prefix
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT  # 0 picks a free port (tests)
    ae_title: str = DEFAULT_AE_TITLE
    allowed_ae_titles: tuple[str, ...] = ()  # calling AE titles; empty: any
    allowed_networks: tuple[str, ...] = ()  # addresses or CIDR networks; empty: any
    max_associations: int = 4  # concurrent associations; more are rejected (transient)
    max_dataset_bytes: int = 2 * 1024**3  # larger datasets are refused, never written
    network_timeout_s: float = 60.0  # an idle association is aborted (its drop discarded)
    stale_after_s: float = 3600.0  # start-up removes incomplete SCP drops idle this long

    def __post_init__(self) -> None:
        if not 1 <= len(self.ae_title.strip()) <= 16:
            raise ValueError(f"AE title must have 1 to 16 characters: {self.ae_title!r}")
        for title in self.allowed_ae_titles:
            if not 1 <= len(title.strip()) <= 16:
                raise ValueError(f"allowed AE title must have 1 to 16 characters: {title!r}")
        for network in self.allowed_networks:
            ipaddress.ip_network(network, strict=False)  # raises ValueError when malformed
        if self.max_associations < 1 or self.max_dataset_bytes < 1:
            raise ValueError("max_associations and max_dataset_bytes must be positive")

    def address_allowed(self, address: str) -> bool:
        """Whether a peer address passes the network allow-list."""
        if not self.allowed_networks:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in ipaddress.ip_network(n, strict=False) for n in self.allowed_networks)

    def ae_title_allowed(self, title: str) -> bool:
        """Whether a calling AE title passes the AE allow-list (padding ignored)."""
        return not self.allowed_ae_titles or title.strip() in {
            t.strip() for t in self.allowed_ae_titles
        }
