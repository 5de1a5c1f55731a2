"""``Opportunity.furthest_order`` (what the funnel's conversion reads) and its backfill from the stage
history: the highest stage order among the deal's stage visits, the lost stage left out
(``services.funnel.BACKFILL_SQL``, copied here so the migration never changes with the code).
"""

from django.db import migrations, models

BACKFILL_SQL = (
    'UPDATE sales_opportunity SET furthest_order = (SELECT MAX(s."order") FROM sales_stagevisit v'
    " INNER JOIN sales_playbookstage s ON s.id = v.stage_id"
    " WHERE v.opportunity_id = sales_opportunity.id AND s.is_lost = %s)"
)


class Migration(migrations.Migration):
    dependencies = [
        ("sales", "0002_default_playbook"),
    ]

    operations = [
        migrations.AddField(
            model_name="opportunity",
            name="furthest_order",
            field=models.PositiveSmallIntegerField(
                blank=True,
                editable=False,
                help_text="Highest stage order in the stage history, the lost stage left out.",
                null=True,
                verbose_name="furthest stage reached",
            ),
        ),
        migrations.RunSQL([(BACKFILL_SQL, [False])], reverse_sql=migrations.RunSQL.noop, elidable=True),
    ]
