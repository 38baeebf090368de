"""The two profiles every install starts with, visible to everyone."""

from django.db import migrations

BUILTINS = [
    {"name": "local", "kind": "local", "backend": "aer_simulator", "description": "Ideal Aer simulator"},
    {
        "name": "fake_manila",
        "kind": "fake",
        "backend": "fake_manila",
        "description": "IBM fake Manila (5 qubits) with its device noise model, offline",
        "max_qubits": 5,
    },
]


def create(apps, schema_editor):
    Profile = apps.get_model("profiles", "ExecutorProfile")
    for fields in BUILTINS:
        Profile.objects.get_or_create(team=None, name=fields["name"], defaults={**fields, "shots": 1024})


def remove(apps, schema_editor):
    apps.get_model("profiles", "ExecutorProfile").objects.filter(team=None, name__in=[b["name"] for b in BUILTINS]).delete()


class Migration(migrations.Migration):
    dependencies = [("profiles", "0001_initial")]
    operations = [migrations.RunPython(create, remove)]
