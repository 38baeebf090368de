from django.contrib import admin

from qportal.jobs.models import Job, JobCircuit, JobEvent, RuntimeSession


class CircuitInline(admin.TabularInline):
    model = JobCircuit
    extra = 0
    fields = ("index", "name", "num_qubits", "done")
    readonly_fields = fields


class EventInline(admin.TabularInline):
    model = JobEvent
    extra = 0
    fields = ("seq", "kind", "status", "message", "created")
    readonly_fields = fields


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "team", "profile", "status", "attempt", "created")
    list_filter = ("status",)
    readonly_fields = ("attempt", "worker_id", "lease_until", "submit_key", "remote_ids", "last_seq")
    inlines = [CircuitInline, EventInline]


@admin.register(RuntimeSession)
class RuntimeSessionAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "team", "profile", "mode", "status", "ibm_session_id", "created")
    list_filter = ("status", "mode")
    readonly_fields = ("ibm_session_id", "last_activity", "closing_at", "closed_at")
