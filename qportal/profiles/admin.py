from django.contrib import admin

from qportal.profiles.models import ExecutorProfile


@admin.register(ExecutorProfile)
class ExecutorProfileAdmin(admin.ModelAdmin):
    list_display = ("name", "team", "kind", "backend", "shots", "mode")
    list_filter = ("kind",)
