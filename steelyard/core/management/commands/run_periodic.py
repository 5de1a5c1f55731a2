"""``manage.py run_periodic NAME``: run one periodic job now; ``--list`` shows them all."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from steelyard.core import periodic
from steelyard.core.models import JobStatus


class Command(BaseCommand):
    help = "Run one periodic job now (recorded as a background job), or list them with --list."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", nargs="?", help="the periodic job to run, e.g. core.purge_old_jobs")
        parser.add_argument("--list", action="store_true", help="list the periodic jobs and their schedules")

    def handle(self, *args: Any, **options: Any) -> None:
        periodic.discover()
        jobs = periodic.periodic_jobs()
        if options["list"]:
            width = max((len(j.name) for j in jobs), default=0)
            for j in jobs:
                self.stdout.write(f"{j.name:<{width}}  {j.cron:<15}  {j.description}")
            return
        name = options["name"]
        if not name:
            raise CommandError("Name a periodic job to run, or pass --list to see them.")
        try:
            periodic.periodic_get(name)
        except KeyError:
            known = ", ".join(j.name for j in jobs) or "none"
            raise CommandError(f"Unknown periodic job {name!r}. Known periodic jobs: {known}.")
        job = periodic.periodic_run(name)
        if job.status != JobStatus.SUCCESSFUL:
            last = job.error.strip().splitlines()[-1] if job.error.strip() else job.status
            raise CommandError(f"{name} failed (job {job.pk}): {last}")
        self.stdout.write(self.style.SUCCESS(f"{name} finished (job {job.pk}): {job.result}"))
