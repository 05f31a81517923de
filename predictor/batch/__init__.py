"""Batch scoring: a file dropped in a bucket, streamed in chunks, scored into predictions,
errors and a summary."""
