from django.urls import path

from qportal.profiles import views

urlpatterns = [
    path("", views.profile_list, name="profile-list"),
    path("new/", views.profile_edit, name="profile-new"),
    path("<int:profile_id>/edit/", views.profile_edit, name="profile-edit"),
    path("<int:profile_id>/delete/", views.profile_delete, name="profile-delete"),
]
