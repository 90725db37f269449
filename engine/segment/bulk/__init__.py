"""Bulk segmentation: many scenes through one pipeline, resumable, with a summary beside the outputs:
``scenes`` (discovery, a change model's pairs by name, a season model's places by ``engine.imagery.places``),
``pairs`` (by date), ``runner`` and ``share`` (the run),
``resume`` (markers), ``summary`` (and every scene's polygons in one layer)."""
