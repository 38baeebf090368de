"""Jobs may keep every shot's outcome: ``Job.memory`` asks for it, ``JobCircuit.memory_blob`` holds
it packed and compressed (``qportal.jobs.stored_results.pack_memory``).  Existing jobs kept none."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("jobs", "0008_history_search")]

    operations = [
        migrations.AddField("job", "memory", models.BooleanField(default=False)),
        migrations.AddField("jobcircuit", "memory_blob", models.BinaryField(blank=True, null=True)),
    ]
