"""Change detection between dates of one place: a Siamese encoder, the dates' features fused per scale, a decoder."""
