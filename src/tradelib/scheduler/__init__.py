"""The job scheduler: a task table in the lake, pure due-job logic, and the runner cron calls.

``tradelib tick`` (cron, every minute) -> ``Runner.tick()``: seed/read the tasks,
decide the due jobs (``due.decide_all``), run each as its papermill notebook under
a per-job lock with a timeout, archive the executed notebook under ``runs/<job>/``
and record every run in ``job_runs``.
"""

from tradelib.scheduler.due import Decision, SessionCalendar, decide, decide_all, due_jobs
from tradelib.scheduler.execute import NotebookExecutor, Outcome, PapermillExecutor
from tradelib.scheduler.lock import JobLock
from tradelib.scheduler.runner import Runner, TickReport, open_lake, tick
from tradelib.scheduler.runs import (
    STARTED,
    RunRecord,
    RunStatus,
    job_state,
    last_starts,
    latest_runs,
    record_run,
)
from tradelib.scheduler.tasks import (
    JobRegistry,
    JobSpec,
    Task,
    check_job_name,
    default_tasks,
    job_parameters,
    read_tasks,
    seed_tasks,
    set_task_interval,
)

__all__ = [
    "STARTED",
    "Decision",
    "JobLock",
    "JobRegistry",
    "JobSpec",
    "NotebookExecutor",
    "Outcome",
    "PapermillExecutor",
    "RunRecord",
    "RunStatus",
    "Runner",
    "SessionCalendar",
    "Task",
    "TickReport",
    "check_job_name",
    "decide",
    "decide_all",
    "default_tasks",
    "due_jobs",
    "job_parameters",
    "job_state",
    "last_starts",
    "latest_runs",
    "open_lake",
    "read_tasks",
    "record_run",
    "seed_tasks",
    "set_task_interval",
    "tick",
]
