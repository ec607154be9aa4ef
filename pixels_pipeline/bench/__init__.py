"""Benchmark: the pipeline's stages against a plain multiprocessing + pydicom baseline.

``python -m pixels_pipeline.bench --files 5000 --out result.json``
"""
