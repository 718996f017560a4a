"""Dashboard logic behind the Voila notebooks in ``dashboards/``: lake reads, figures, widgets."""
