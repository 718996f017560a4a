"""Backtests and replays: the real jobs over simulated, historical or recorded markets."""
