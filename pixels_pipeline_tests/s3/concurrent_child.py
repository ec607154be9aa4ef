"""Child process of the S3 concurrency test: one run of one drop in the shared instance
of ``$DAGSTER_HOME`` (whose dagster.yaml limits the lake-write pool)."""

import sys

from dagster import DagsterInstance, materialize

from pixels_pipeline.assets.metadata import metadata
from pixels_pipeline.assets.object_catalog import object_catalog
from pixels_pipeline.resources import LakeResource, SparkResource


def main(landing: str, lake: str, drop_id: str) -> None:
    with DagsterInstance.get() as instance:
        result = materialize(
            [object_catalog, metadata],
            partition_key=drop_id,
            instance=instance,
            resources={
                "spark": SparkResource(
                    master="local[1]", spark_config={"spark.ui.enabled": "false"}
                ),
                "lake": LakeResource(landing=landing, lake=lake),
            },
            tags={"test": "s3-concurrency"},
        )
        print(result.run_id)


if __name__ == "__main__":
    main(*sys.argv[1:4])
