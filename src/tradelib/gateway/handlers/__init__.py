"""Protocol handlers of the simulated gateway, one module per concern (see ``core``)."""
