"""Pure DICOM logic: pydicom, numpy and Pillow only.

Nothing in this package imports pyspark or dagster, so every function here can be
unit-tested on real files and reused from any orchestrator.
"""
