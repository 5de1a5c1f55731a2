"""``manage.py run_worker``: the background worker (huey's consumer) for Steelyard.

A thin wrapper over djhuey's ``run_huey`` that loads every app's ``tasks`` module, says
which queue backend it serves and prints the periodic schedule before it starts. Run one
per host; with ``TASK_BACKEND=redis`` or ``postgres`` any number of hosts share the queue.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from huey.contrib.djhuey.management.commands.run_huey import Command as RunHueyCommand

from steelyard.core import periodic


def describe_backend() -> str:
    """A one-line description of the queue this worker serves (no secrets)."""
    from huey.contrib.djhuey import HUEY

    kind = getattr(settings, "TASK_BACKEND", "sqlite")
    storage = type(HUEY.storage).__name__
    where = ""
    if kind == "sqlite":
        where = str(settings.HUEY.get("filename", ""))
    elif kind == "redis":
        url = str(settings.HUEY.get("url", ""))
        where = url.rsplit("@", 1)[-1]  # drop any password
    elif kind == "postgres":
        where = str(settings.HUEY.get("database", "")).rsplit("@", 1)[-1]
    return f"{kind} ({storage}{': ' + where if where else ''})"


class Command(RunHueyCommand):
    help = "Run the Steelyard background worker (huey consumer) with the periodic scheduler."

    def handle(self, *args: Any, **options: Any) -> None:
        from huey.contrib.djhuey import HUEY

        if HUEY.immediate:
            raise CommandError(
                "Tasks run inline (immediate mode: STEELYARD_TESTING or TASK_BACKEND=immediate); "
                "no worker is needed. Set TASK_BACKEND=sqlite, redis or postgres to use one."
            )
        periodic.discover()
        self.stdout.write(f"Steelyard worker on queue backend {describe_backend()}")
        jobs = periodic.periodic_jobs()
        if jobs:
            self.stdout.write(f"Periodic jobs (cron in {settings.TIME_ZONE}):")
            for j in jobs:
                self.stdout.write(f"  {j.cron:<15} {j.name}  {j.description}")
        if options.get("periodic") is False:  # huey's --no-periodic
            self.stdout.write("Periodic jobs are not scheduled by this worker (--no-periodic).")
        huey_logger = logging.getLogger("huey")
        if not huey_logger.handlers and logging.getLogger().handlers:
            # Django's LOGGING already prints through the root logger; without a handler of its
            # own here, run_huey would add one and every line would appear twice.
            huey_logger.addHandler(logging.NullHandler())
        options["disable_autoload"] = True  # already discovered above
        super().handle(*args, **options)
