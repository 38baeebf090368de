from django.urls import path

from qportal.jobs import views

urlpatterns = [
    path("", views.job_list, name="job-list"),
    path("jobs/new/", views.submit, name="job-submit"),
    path("jobs/<uuid:job_id>/", views.job_detail, name="job-detail"),
]
