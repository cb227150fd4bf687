"""shotfeed: a broadcast graphics feed server following ShotTracker games."""

__version__ = "0.1.0"
