"""Install ``scheduled/crontab`` into the user's crontab, keeping every other line.

The template's ``__TRADELIB_HOME__`` becomes the checkout's path, and the result
goes between two marker comments naming that path. Installing again replaces
the block in place, so the command is idempotent, leaves other entries alone,
and two checkouts can each keep their own block.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

from tradelib.errors import SchedulerError

HOME_PLACEHOLDER = "__TRADELIB_HOME__"
TEMPLATE_RELPATH = Path("scheduled") / "crontab"
_BEGIN = "# >>> tradelib scheduler: {home} >>>"
_END = "# <<< tradelib scheduler: {home} <<<"


def render_block(template: str, home: Path) -> str:
    """Return the managed crontab block: ``template`` with the checkout path filled in."""
    if HOME_PLACEHOLDER not in template:
        raise SchedulerError(f"the crontab template has no {HOME_PLACEHOLDER} placeholder")
    body = template.replace(HOME_PLACEHOLDER, shlex.quote(str(home))).strip("\n")
    return "\n".join([_BEGIN.format(home=home), body, _END.format(home=home)]) + "\n"


def merge_crontab(current: str, block: str, home: Path) -> str:
    """Return ``current`` with this checkout's block replaced by ``block`` (or appended)."""
    begin, end = _BEGIN.format(home=home), _END.format(home=home)
    kept: list[str] = []
    inside = False
    position: int | None = None
    for line in current.splitlines():
        if line.strip() == begin:
            inside, position = True, len(kept)
        elif inside:
            inside = line.strip() != end
        else:
            kept.append(line)
    if inside:
        raise SchedulerError(f"the crontab has '{begin}' without its end marker; fix it by hand")
    new = block.rstrip("\n").splitlines()
    if position is None:
        if kept and kept[-1].strip():
            kept.append("")  # a blank line between the user's entries and ours
        position = len(kept)
    merged = kept[:position] + new + kept[position:]
    return "\n".join(merged) + "\n"  # cron ignores a last line without its newline


def _crontab_binary() -> str:
    found = shutil.which("crontab")
    if found is None:
        raise SchedulerError(
            "no 'crontab' command: install cron (Debian: apt-get install cron; or make system-deps)"
        )
    return found


def read_user_crontab() -> str:
    """Return the user's crontab (empty if they have none)."""
    proc = subprocess.run(
        [_crontab_binary(), "-l"], capture_output=True, text=True, check=False, timeout=30
    )
    if proc.returncode == 0:
        return proc.stdout
    if "no crontab" in proc.stderr.lower():
        return ""
    raise SchedulerError(f"crontab -l failed: {proc.stderr.strip() or proc.returncode}")


def write_user_crontab(text: str) -> None:
    """Replace the user's crontab with ``text``."""
    proc = subprocess.run(
        [_crontab_binary(), "-"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if proc.returncode != 0:
        raise SchedulerError(f"crontab - failed: {proc.stderr.strip() or proc.returncode}")


def install_crontab(home: Path, *, dry_run: bool = False, template: Path | None = None) -> str:
    """Install ``home``'s crontab block into the user's crontab; return the resulting crontab.

    With ``dry_run`` nothing is written. ``template`` defaults to ``<home>/scheduled/crontab``.
    """
    source = template or home / TEMPLATE_RELPATH
    if not source.is_file():
        raise SchedulerError(f"crontab template not found: {source}")
    merged = merge_crontab(read_user_crontab(), render_block(source.read_text(), home), home)
    if not dry_run:
        write_user_crontab(merged)
    return merged
