from django.urls import path

from triage.accounts import views as account_views
from triage.taxonomy import rule_views, views

urlpatterns = [
    path("", views.index, name="taxonomy"),
    path("c/<int:pk>/", views.category_detail, name="taxonomy-category"),
    path("c/<int:pk>/threshold/preview/", views.threshold_preview, name="taxonomy-threshold-preview"),
    path("splits/", views.splits_list, name="taxonomy-splits"),
    path("splits/<int:pk>/", views.split_detail, name="taxonomy-split"),
    path("rules/", rule_views.rules_page, name="taxonomy-rules"),
    path("rules/<int:pk>/", rule_views.rule_detail, name="taxonomy-rule"),
    path("rules/<int:pk>/delete/", rule_views.rule_delete, name="taxonomy-rule-delete"),
    path("users/", account_views.users_page, name="taxonomy-users"),
    path("users/<int:pk>/", account_views.user_detail, name="taxonomy-user"),
    path("tokens/", account_views.tokens_page, name="taxonomy-tokens"),
    path("tokens/<int:pk>/revoke/", account_views.token_revoke, name="taxonomy-token-revoke"),
    path("auto/<int:ticket_id>/undo/", rule_views.auto_undo, name="taxonomy-auto-undo"),
]
