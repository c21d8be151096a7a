from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from triage.integrations.urls import api_urlpatterns as integration_api_urls

urlpatterns = [
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/", include(integration_api_urls)),
    path("api/", include("triage.api.urls")),
    path("integrations/", include("triage.integrations.urls")),
    path("tickets/", include("triage.tickets.urls")),
    path("models/", include("triage.learning.urls")),
    path("taxonomy/", include("triage.taxonomy.urls")),
    path("reports/", include("triage.reports.urls")),
    path("", include("triage.urls")),
]
