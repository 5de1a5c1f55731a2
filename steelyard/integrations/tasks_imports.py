"""Background jobs of file imports: run one import, check a whole file (dry run).

Both only carry ids; the work is in ``steelyard.integrations.services.imports``. They run in the
language of the person who started them, so the reasons in the error report read in it.
``manage.py run_file_import ID`` runs an import in the foreground through the same job bookkeeping.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import translation

from steelyard.core.tasks import current_job_id, task


def _language(actor_id: int | None) -> str:
    from steelyard.org.models import User

    lang = User.objects.filter(pk=actor_id).values_list("language", flat=True).first() if actor_id else None
    return lang or settings.LANGUAGE_CODE


@task
def run_file_import(*, file_import_id: int, actor_id: int | None = None) -> dict[str, Any]:
    """Import one file in one transaction (see ``file_import_execute``)."""
    from steelyard.integrations.services.imports import file_import_execute

    with translation.override(_language(actor_id)):
        return file_import_execute(file_import_id=file_import_id, actor_id=actor_id, job_id=current_job_id())


@task
def check_file_import(*, file_import_id: int, actor_id: int | None = None) -> dict[str, Any]:
    """Dry-run the whole file through the engine and store the counts on the import."""
    from steelyard.integrations.services.imports import file_import_check_execute

    with translation.override(_language(actor_id)):
        return file_import_check_execute(
            file_import_id=file_import_id, actor_id=actor_id, job_id=current_job_id()
        )
