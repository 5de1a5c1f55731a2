"""``manage.py run_file_import ID``: run one file import in this process, in the foreground.

Goes through the same bookkeeping as the background worker (a job row, claimed, progress, result),
only without the queue: useful for a very large file on a host without a worker, and it is what the
kill test runs in a subprocess. The import must be uploaded and mapped (status uploaded/checked);
``--again`` runs a finished, failed or stopped one once more as a new import.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from steelyard.core.models import JobStatus


class Command(BaseCommand):
    help = "Run one file import (integrations) in the foreground."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file_import_id", type=int)
        parser.add_argument("--actor", help="username to run as (default: the uploader)")
        parser.add_argument("--again", action="store_true", help="run a finished/stopped import again")

    def handle(self, *args: Any, **options: Any) -> None:
        from steelyard.core.tasks import execute_job
        from steelyard.integrations.models import FileImport
        from steelyard.integrations.services import imports as services
        from steelyard.org.models import User

        fi = (
            FileImport.objects.select_related("created_by", "system")
            .filter(pk=options["file_import_id"])
            .first()
        )
        if fi is None:
            raise CommandError(f"no file import {options['file_import_id']}")
        actor = fi.created_by
        if options.get("actor"):
            actor = User.objects.filter(username=options["actor"]).first()
            if actor is None:
                raise CommandError(f"no user {options['actor']!r}")
        if actor is None:
            raise CommandError("the uploader is gone: give --actor")
        try:
            if options["again"]:
                fi = services.file_import_rerun(actor=actor, file_import=fi, dispatch=False)
                job = fi.job
            else:
                job = services.file_import_run(actor=actor, file_import=fi, dispatch=False)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(json.dumps({"file_import": fi.pk, "job": str(job.pk)}), ending="\n")
        self.stdout.flush()
        done = execute_job(job.pk)
        fi.refresh_from_db()
        self.stdout.write(
            json.dumps(
                {
                    "file_import": fi.pk,
                    "status": fi.status,
                    "job_status": done.status if done else None,
                    "created": fi.created,
                    "updated": fi.updated,
                    "unchanged": fi.unchanged,
                    "rejected": fi.rejected,
                }
            )
        )
        if done is None or done.status != JobStatus.SUCCESSFUL:
            raise CommandError(f"the import failed: {fi.error or (done.error if done else '')}")
