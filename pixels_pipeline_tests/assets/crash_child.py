"""Child process for the crash test: materialize one drop; the test SIGKILLs it."""

import sys

from dagster import DagsterInstance, materialize

from pixels_pipeline.assets.metadata import metadata
from pixels_pipeline.assets.object_catalog import object_catalog
from pixels_pipeline.resources import LakeResource, SparkResource


def main(landing: str, lake: str, drop_id: str) -> None:
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("drops", [drop_id])
    materialize(
        [object_catalog, metadata],
        partition_key=drop_id,
        instance=instance,
        resources={
            "spark": SparkResource(master="local[1]", spark_config={"spark.ui.enabled": "false"}),
            "lake": LakeResource(landing=landing, lake=lake),
        },
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
