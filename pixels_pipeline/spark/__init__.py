"""The Spark side: sessions, table schemas, thin Arrow UDF wrappers and the Delta layer.

Imports ``pixels_pipeline.dicom`` and ``pixels_pipeline.storage``; never dagster.
"""
