from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from assist.views import ThrottledPasswordResetView
from triage.integrations.urls import api_urlpatterns as integration_api_urls

urlpatterns = [
    path("accounts/password_reset/", ThrottledPasswordResetView.as_view(), name="password_reset"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI in the product's page; its start-up script is a file, for the CSP.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api/docs.html"),
        name="api-docs",
    ),
    path("api/", include(integration_api_urls)),
    path("api/", include("triage.api.urls")),
    path("integrations/", include("triage.integrations.urls")),
    path("tickets/", include("triage.tickets.urls")),
    path("models/", include("triage.learning.urls")),
    path("taxonomy/", include("triage.taxonomy.urls")),
    path("reports/", include("triage.reports.urls")),
    path("", include("triage.urls")),
]

handler404 = "assist.errors.not_found"
handler500 = "assist.errors.server_error"
