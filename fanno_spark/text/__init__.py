"""Text resources below both the pipeline stages and the report: the instruction-verb lexicon."""
