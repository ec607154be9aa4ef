"""Where files live: URIs to pyarrow filesystems, and the landing zone's drops.

Imports neither pyspark nor dagster, so Spark tasks and sensors share it.
"""
