"""The dispatcher's mark starts at the end of the job event log: subscriptions hear of jobs that
end from now on, not of the history before the app was installed."""

from django.db import migrations
from django.db.models import Max


def start_at_end(apps, schema_editor):
    JobEvent = apps.get_model("jobs", "JobEvent")
    ReadMark = apps.get_model("notifications", "ReadMark")
    last = JobEvent.objects.aggregate(last=Max("id"))["last"] or 0
    ReadMark.objects.get_or_create(name="job-events", defaults={"last_id": last})


class Migration(migrations.Migration):
    dependencies = [("notifications", "0001_initial"), ("jobs", "0008_history_search")]

    operations = [migrations.RunPython(start_at_end, migrations.RunPython.noop)]
