from django.urls import include, path

from qportal.jobs import device_views, session_views, usage_views, views

urlpatterns = [
    path("", views.job_list, name="job-list"),
    path("jobs/new/", views.submit, name="job-submit"),
    path("jobs/examples/<str:name>.qasm", views.qasm_example, name="qasm-example"),
    path("jobs/<uuid:job_id>/", views.job_detail, name="job-detail"),
    path("jobs/<uuid:job_id>/row/", views.job_row, name="job-row"),
    path("jobs/<uuid:job_id>/circuits/<int:index>/diagram/", views.job_circuit_diagram, name="job-circuit-diagram"),
    path("jobs/<uuid:job_id>/panels/", views.job_panels, name="job-panels"),
    path("jobs/<uuid:job_id>/cancel/", views.job_cancel, name="job-cancel"),
    path("jobs/<uuid:job_id>/rerun/", views.job_rerun, name="job-rerun"),
    path("jobs/<uuid:job_id>/fail/", views.job_force_fail, name="job-fail"),
    path("jobs/<uuid:job_id>/archive/", views.job_archive, name="job-archive"),
    path("jobs/<uuid:job_id>/delete/", views.job_delete, name="job-delete"),
    path("jobs/<uuid:job_id>/results.<str:fmt>", views.job_results_download, name="job-results-download"),
    path("sessions/", session_views.session_list, name="session-list"),
    path("sessions/<uuid:session_id>/", session_views.session_detail, name="session-detail"),
    path("sessions/<uuid:session_id>/close/", session_views.session_close, name="session-close"),
    path("sessions/<uuid:session_id>/cancel/", session_views.session_cancel, name="session-cancel"),
    path("jobs/<uuid:job_id>/provenance.json", device_views.job_provenance, name="job-provenance"),
    path("jobs/<uuid:job_id>/compare/", device_views.compare_job, name="job-compare"),
    path("compare/", device_views.compare_page, name="compare"),
    path("backends/<str:name>/", device_views.backend_page, name="backend-page"),
    path("profiles/", include("qportal.profiles.urls")),
    path("usage/", usage_views.usage_page, name="usage"),
    path("usage/export.csv", usage_views.usage_csv, name="usage-csv"),
    path("usage/budgets/", usage_views.budget_set, name="budget-set"),
    path("usage/budgets/<int:budget_id>/remove/", usage_views.budget_remove, name="budget-remove"),
]
