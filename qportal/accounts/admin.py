from django.contrib import admin

from qportal.accounts.models import ApiKey, IBMCredential, Membership, Team


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "personal", "created")
    inlines = [MembershipInline]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("__str__", "user", "created", "last_used")
    fields = ("user", "name", "created", "last_used")
    readonly_fields = ("created", "last_used")

    def has_add_permission(self, request):
        return False  # keys are issued by `create_api_key`, which shows the key once


@admin.register(IBMCredential)
class IBMCredentialAdmin(admin.ModelAdmin):
    """The token is never shown: only its last four characters."""

    list_display = ("name", "team", "channel", "masked", "status", "checked_at")
    fields = ("team", "name", "channel", "masked", "instance", "url", "verify", "status", "status_reason", "checked_at")
    readonly_fields = ("masked", "status", "status_reason", "checked_at")

    def has_add_permission(self, request):
        return False  # tokens are written through the credential form or API
