"""Interactive labelling on the map canvas with Segment Anything: the map tool, its panel, where masks go."""
