"""pixels_pipeline: a Dagster + Spark lakehouse pipeline for DICOM files."""
