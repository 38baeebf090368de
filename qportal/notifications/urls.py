from django.urls import path

from qportal.notifications import views

urlpatterns = [
    path("", views.notification_list, name="notification-list"),
    path("<int:subscription_id>/delete/", views.notification_delete, name="notification-delete"),
    path("<int:subscription_id>/test/", views.notification_test, name="notification-test"),
]
