"""A season of dates of one place: a shared encoder per date, temporal attention over the dates (L-TAE) carried up
to the skips, any decoder (``configuration_season``, ``modeling_season``); the U-TAE pattern."""
