from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("jobs", "0012_calibration_provenance")]

    operations = [
        migrations.AddField("jobcircuit", "pub_shots", models.PositiveIntegerField(blank=True, null=True)),
        migrations.AddField("jobcircuit", "precision", models.FloatField(blank=True, null=True)),
        migrations.AddField("jobcircuit", "shape", models.JSONField(blank=True, null=True)),
        migrations.AddField("jobcircuit", "binding_counts", models.JSONField(blank=True, null=True)),
    ]
