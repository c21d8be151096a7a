from django.urls import path

from triage.integrations import views

urlpatterns = [
    path("", views.index, name="integrations"),
    path("links/", views.source_link, name="integrations-source-link"),
    path("mailboxes/new/", views.mailbox_new, name="integrations-mailbox-new"),
    path("mailboxes/test/", views.mailbox_test, name="integrations-mailbox-test"),
    path("mailboxes/<int:mailbox_id>/", views.mailbox_detail, name="integrations-mailbox"),
    path("mailboxes/<int:mailbox_id>/poll/", views.mailbox_poll_now, name="integrations-mailbox-poll"),
    path("mailboxes/<int:mailbox_id>/delete/", views.mailbox_delete, name="integrations-mailbox-delete"),
    path("helpdesks/new/", views.helpdesk_new, name="integrations-helpdesk-new"),
    path("helpdesks/<int:helpdesk_id>/", views.helpdesk_detail, name="integrations-helpdesk"),
    path("helpdesks/<int:helpdesk_id>/secret/", views.helpdesk_secret, name="integrations-helpdesk-secret"),
    path("helpdesks/<int:helpdesk_id>/delete/", views.helpdesk_delete, name="integrations-helpdesk-delete"),
    path("endpoints/new/", views.endpoint_new, name="integrations-endpoint-new"),
    path("endpoints/<int:endpoint_id>/", views.endpoint_detail, name="integrations-endpoint"),
    path("endpoints/<int:endpoint_id>/secret/", views.endpoint_secret, name="integrations-endpoint-secret"),
    path("endpoints/<int:endpoint_id>/test/", views.endpoint_test, name="integrations-endpoint-test"),
    path("endpoints/<int:endpoint_id>/enable/", views.endpoint_enable, name="integrations-endpoint-enable"),
    path("endpoints/<int:endpoint_id>/resend/", views.endpoint_resend, name="integrations-endpoint-resend"),
    path("endpoints/<int:endpoint_id>/delete/", views.endpoint_delete, name="integrations-endpoint-delete"),
    path("deliveries/<int:delivery_id>/resend/", views.delivery_resend, name="integrations-delivery-resend"),
]

# Mounted under /api/ by assist/urls.py: the helpdesks' webhooks.
api_urlpatterns = [
    path("integrations/<slug:slug>/", views.helpdesk_webhook, name="api-integration-webhook"),
]
