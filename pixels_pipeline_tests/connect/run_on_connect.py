"""Materialize one drop through the Spark Connect remote named by $PIXELS_SPARK_MASTER.

Runs as its own process: the rest of the suite holds a classic local SparkSession.
Prints JSON with the run's outcome and the kind of session the assets used.
"""

import json
import sys

from dagster import DagsterInstance, materialize
from pyspark import SparkContext

from pixels_pipeline.assets.metadata import metadata
from pixels_pipeline.assets.object_catalog import object_catalog
from pixels_pipeline.assets.thumbnails import thumbnails
from pixels_pipeline.resources import LakeResource, SparkResource


def main(landing: str, lake: str, drop_id: str) -> None:
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("drops", [drop_id])
    spark = SparkResource(stop_at_teardown=False)  # master from PIXELS_SPARK_MASTER
    result = materialize(
        [object_catalog, metadata, thumbnails],
        partition_key=drop_id,
        instance=instance,
        resources={"spark": spark, "lake": LakeResource(landing=landing, lake=lake)},
    )
    session = spark.get_session()
    print(
        json.dumps(
            {
                "success": result.success,
                "session_module": type(session).__module__,
                # A Connect client starts no JVM of its own: all work ran on the server.
                "local_jvm": SparkContext._active_spark_context is not None,
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
