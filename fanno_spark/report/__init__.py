"""Data report: statistics of the final dataset (Spark aggregations) and their PNG plots."""
