from django.urls import path

from qportal.accounts import views

urlpatterns = [
    path("", views.credential_list, name="credential-list"),
    path("<int:cred_id>/token/", views.credential_replace, name="credential-replace"),
    path("<int:cred_id>/check/", views.credential_check, name="credential-check"),
    path("<int:cred_id>/delete/", views.credential_delete, name="credential-delete"),
]
