"""User-brought daily bars and a volatility index: loading, intraday bridges, modelled quotes."""
