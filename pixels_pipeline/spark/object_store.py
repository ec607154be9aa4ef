"""The JVM's view of object storage: ``s3://`` URIs become ``s3a://`` paths (hadoop-aws),
configured from the same :class:`StorageOptions` the Python side uses.

Settings go into the session's SQL conf, which Spark and Delta copy into the Hadoop
configuration of every read, write and log access (also through Spark Connect).
Credentials: explicit ones (Dagster config, e.g. ``EnvVar``) are set as ``fs.s3a`` keys,
which Spark redacts in its UI and logs; otherwise hadoop-aws uses the standard AWS chain
(environment, profile, instance role) of the JVM's process.
"""

from __future__ import annotations

from urllib.parse import urlparse

from pyspark.sql import SparkSession

from pixels_pipeline.storage.uri import StorageOptions, scheme_of

__all__ = ["hadoop_s3a_conf", "spark_path", "use_object_store"]


def spark_path(uri: str) -> str:
    """The path Spark's JVM opens for a URI: ``s3://b/k`` -> ``s3a://b/k``."""
    if scheme_of(uri) == "s3":
        return "s3a://" + uri[len("s3://") :]
    return uri


def hadoop_s3a_conf(options: StorageOptions) -> dict[str, str]:
    """``fs.s3a.*`` settings for ``options`` (empty fields: hadoop-aws' own defaults)."""
    conf: dict[str, str] = {
        "fs.s3a.attempts.maximum": str(max(options.max_attempts, 1)),
        "fs.s3a.retry.limit": str(max(options.max_attempts - 1, 0)),
    }
    if options.endpoint_url:
        url = urlparse(options.endpoint_url)
        conf["fs.s3a.endpoint"] = options.endpoint_url
        conf["fs.s3a.path.style.access"] = "true"
        conf["fs.s3a.connection.ssl.enabled"] = str(url.scheme == "https").lower()
    if options.region:
        conf["fs.s3a.endpoint.region"] = options.region
    if options.anonymous:
        conf["fs.s3a.aws.credentials.provider"] = (
            "org.apache.hadoop.fs.s3a.AnonymousAWSCredentialsProvider"
        )
    elif options.access_key_id and options.secret_access_key:
        conf["fs.s3a.access.key"] = options.access_key_id
        conf["fs.s3a.secret.key"] = options.secret_access_key
        if options.session_token:
            conf["fs.s3a.session.token"] = options.session_token
            conf["fs.s3a.aws.credentials.provider"] = (
                "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"
            )
    return conf


_applied: dict[int, tuple[str, ...]] = {}


def use_object_store(spark: SparkSession, options: StorageOptions | None) -> None:
    """Point the session's ``s3a`` client at ``options`` (once per session and options)."""
    conf = hadoop_s3a_conf(options or StorageOptions())
    fingerprint = tuple(sorted(f"{k}={v}" for k, v in conf.items()))
    if _applied.get(id(spark)) == fingerprint:
        return
    for key, value in conf.items():
        spark.conf.set(key, value)
    _applied[id(spark)] = fingerprint
