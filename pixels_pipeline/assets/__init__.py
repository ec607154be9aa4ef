"""One module per table; each asset only calls ``pixels_pipeline.api`` and reports."""
