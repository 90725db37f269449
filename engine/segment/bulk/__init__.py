"""Bulk segmentation: many scenes through one pipeline, resumable, with a summary beside the outputs."""
