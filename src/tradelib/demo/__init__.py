"""The demo: simulated days and months driven through the real jobs."""
