from django.urls import path

from triage.consumers import QueueConsumer
from triage.learning.consumers import ModelsConsumer

websocket_urlpatterns = [
    path("ws/queue/", QueueConsumer.as_asgi()),
    path("ws/models/", ModelsConsumer.as_asgi()),
]
