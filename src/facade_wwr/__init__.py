"""facade-wwr: window-to-wall ratios of buildings from street-level photos."""

__version__ = "0.1.0"

#: Default class names, in category-id order (window 0, building 1), as in the tutorial.
DEFAULT_CLASSES: tuple[str, ...] = ("window", "building")
#: Instances scoring below this are left out of the building table (the tutorial's 0.7).
DEFAULT_SCORE_THRESHOLD = 0.7
