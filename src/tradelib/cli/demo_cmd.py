"""`tradelib demo`: run the main job on the embedded simulated market."""

from __future__ import annotations


def demo() -> None:
    """Run the demo on the embedded simulated market."""
    raise NotImplementedError
