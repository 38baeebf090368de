"""Results stored once: counts packed into one blob, probabilities and register counts derived
(``qportal.jobs.stored_results``).  Existing results are converted, nothing is dropped unread."""

from django.db import migrations, models


def pack_existing(apps, schema_editor):
    from executors.base import CircuitResult
    from qportal.jobs.stored_results import row_values

    circuits = apps.get_model("jobs", "JobCircuit")
    # row_values is today's: only the columns this migration's model has (later ones came after)
    columns = {field.name for field in circuits._meta.get_fields()}
    done = circuits.objects.filter(done=True)
    for circuit in done.only("id", "counts", "register_counts", "probabilities", "evs", "stds", "metadata").iterator(
        chunk_size=200
    ):
        result = CircuitResult(
            index=0,
            counts=circuit.counts,
            register_counts=circuit.register_counts,
            probabilities=circuit.probabilities,
            evs=circuit.evs,
            stds=circuit.stds,
            metadata=circuit.metadata or {},
        )
        values = {name: value for name, value in row_values(result).items() if name in columns}
        circuits.objects.filter(id=circuit.id).update(**values)


def unpack_to_json(apps, schema_editor):
    from qportal.jobs.stored_results import derive_probabilities, derive_register_counts, unpack_counts

    circuits = apps.get_model("jobs", "JobCircuit")
    for circuit in circuits.objects.filter(done=True).iterator(chunk_size=200):
        counts = unpack_counts(circuit.counts_blob)
        given = circuit.given_register_counts
        circuits.objects.filter(id=circuit.id).update(
            counts=counts,
            register_counts=given if given is not None else derive_register_counts(counts, circuit.registers),
            probabilities=circuit.exact_probabilities if counts is None else derive_probabilities(counts, circuit.shots),
        )


class Migration(migrations.Migration):
    dependencies = [("jobs", "0006_job_ran_on")]

    operations = [
        migrations.AddField("jobcircuit", "counts_blob", models.BinaryField(blank=True, null=True)),
        migrations.AddField("jobcircuit", "shots", models.PositiveIntegerField(blank=True, null=True)),
        migrations.AddField(
            "jobcircuit",
            "outcomes",
            models.PositiveIntegerField(blank=True, help_text="distinct outcomes counted", null=True),
        ),
        migrations.AddField("jobcircuit", "top_outcome", models.TextField(blank=True, default=""), preserve_default=False),
        migrations.AddField("jobcircuit", "top_count", models.PositiveIntegerField(blank=True, null=True)),
        migrations.AddField(
            "jobcircuit",
            "registers",
            models.JSONField(blank=True, help_text="[[name, bits], ...] in join order", null=True),
        ),
        migrations.AddField(
            "jobcircuit",
            "given_register_counts",
            models.JSONField(blank=True, help_text="only when not derivable", null=True),
        ),
        migrations.AddField(
            "jobcircuit",
            "exact_probabilities",
            models.JSONField(blank=True, help_text="only for a job without counts", null=True),
        ),
        migrations.RunPython(pack_existing, unpack_to_json),
        migrations.RemoveField("jobcircuit", "counts"),
        migrations.RemoveField("jobcircuit", "register_counts"),
        migrations.RemoveField("jobcircuit", "probabilities"),
    ]
