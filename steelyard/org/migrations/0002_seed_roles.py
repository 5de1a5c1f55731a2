from django.db import migrations

# A frozen copy of steelyard.org.roles.SEEDED_ROLES at the time of this migration.
ROLES = [
    ("administrator", "Administrator", "all", False),
    ("executive", "Executive", "all", False),
    ("sales_director", "Sales director", "subtree", False),
    ("sales_manager", "Sales manager", "team", False),
    ("sales_rep", "Sales rep", "own", False),
    ("marketing", "Marketing", "subtree", False),
    ("solution_engineer", "Solution engineer", "own", False),
    ("finance", "Finance", "all", False),
    ("production_planner", "Production planner", "all", False),
    ("service_manager", "Service manager", "subtree", False),
    ("service_dispatcher", "Service dispatcher", "subtree", False),
    ("technician", "Technician", "own", False),
    ("integration", "Integration", "all", True),
]


def seed(apps, schema_editor):
    Role = apps.get_model("org", "Role")
    for code, name, scope, machine in ROLES:
        Role.objects.get_or_create(code=code, defaults={"name": name, "data_scope": scope, "is_machine": machine})


class Migration(migrations.Migration):
    dependencies = [("org", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
