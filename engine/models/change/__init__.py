"""Change detection between dates of one place: a Siamese encoder, the dates' features fused per scale, a decoder
(``configuration_change``, ``modeling_change``); ``first_dates`` (torch-free) keeps first dates' encoder maps for a
monitoring series, for both backends."""
