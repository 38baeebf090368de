from django.urls import path

from qportal.accounts import key_views

urlpatterns = [
    path("", key_views.key_list, name="key-list"),
    path("<int:key_id>/revoke/", key_views.key_revoke, name="key-revoke"),
]
