"""A DICOM storage SCP that lands each association as one drop of the landing zone.

``python -m pixels_pipeline.scp --host H --port P --ae-title T`` receives C-STORE requests
(pynetdicom), writes every dataset as received (no transcoding) into a drop named after
the calling AE title and the time, and writes the drop's ``_SUCCESS`` only once the
association is released normally, so the landing sensor ingests it like any other drop.
Imports neither pyspark nor dagster.
"""

from pixels_pipeline.scp.config import ScpConfig
from pixels_pipeline.scp.server import ScpStats, StorageScp
from pixels_pipeline.scp.store import DropStore

__all__ = ["DropStore", "ScpConfig", "ScpStats", "StorageScp"]
