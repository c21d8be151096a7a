from django.urls import path

from triage.learning import views

urlpatterns = [
    path("", views.models_page, name="models"),
    path("retrain/", views.retrain_now, name="models-retrain"),
    path("runs/<int:run_id>/", views.run_status, name="models-run"),
    path("schedule/", views.nightly_retrain_save, name="models-schedule"),
    path("v<int:number>/", views.version_detail, name="model-version"),
    path("v<int:number>/promote/", views.promote, name="model-promote"),
    path("v<int:number>/shadow/", views.shadow, name="model-shadow"),
]
