"""gozero: AlphaGo Zero-style Go learning system — rules, network, search, self-play,
training, evaluation and play, in one Python package."""

__version__ = "0.1.0"
