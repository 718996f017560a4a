"""Futures data: collect ES/NQ/RTY (and the ETFs they lead) and analyse futures vs spot."""
