"""Table access: one store per table family, the only writer of its tables."""
