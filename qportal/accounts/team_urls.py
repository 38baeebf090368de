from django.urls import path

from qportal.accounts import team_views as views

urlpatterns = [
    path("", views.team_list, name="team-list"),
    path("<int:team_id>/", views.team_detail, name="team-detail"),
    path("<int:team_id>/rename/", views.team_rename, name="team-rename"),
    path("<int:team_id>/invite/", views.team_invite, name="team-invite"),
    path("<int:team_id>/leave/", views.team_leave, name="team-leave"),
    path("<int:team_id>/invitations/<int:invitation_id>/revoke/", views.invitation_revoke, name="invitation-revoke"),
    path("<int:team_id>/members/<str:username>/role/", views.member_role, name="member-role"),
    path("<int:team_id>/members/<str:username>/remove/", views.member_remove, name="member-remove"),
    path("invitations/<int:invitation_id>/accept/", views.invitation_accept_pending, name="invitation-accept-pending"),
]
