"""The jobs: functions the papermill notebooks, the scheduler and the demo call."""
