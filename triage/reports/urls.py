from django.urls import path

from triage.reports import views

REPORT_SLUGS = "acceptance", "quality", "confidence", "errors", "drift", "agents"

urlpatterns = [
    path("", views.report_page, name="reports"),
    path("overview/<str:table>.csv", views.report_csv, {"slug": "overview"}, name="reports-overview-csv"),
    path("quality/cell/", views.confusion_cell, name="reports-confusion-cell"),
    path("tickets/<int:ticket_id>/", views.ticket_detail, name="reports-ticket"),
    path("review/", views.review_list, name="reports-review"),
    path("review/<int:check_id>/", views.review_submit, name="reports-review-submit"),
]
for _slug in REPORT_SLUGS:
    urlpatterns += [
        path(f"{_slug}/", views.report_page, {"slug": _slug}, name=f"reports-{_slug}"),
        path(f"{_slug}/<str:table>.csv", views.report_csv, {"slug": _slug}, name=f"reports-{_slug}-csv"),
    ]
