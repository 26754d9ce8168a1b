from rest_framework import serializers

from webhooks.models import EVENT_TYPES, PING, WebhookAttempt, WebhookDelivery, WebhookEndpoint

EVENTS_HELP = "Event types: " + ", ".join(EVENT_TYPES) + ". Another is refused with `unknown_event_type`."


class EndpointInput(serializers.Serializer):
    url = serializers.CharField(max_length=2000, help_text="HTTPS URL of your receiver (public address).")
    events = serializers.ListField(child=serializers.CharField(max_length=64), allow_empty=False, max_length=20, help_text=EVENTS_HELP)
    description = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class EndpointPatch(serializers.Serializer):
    url = serializers.CharField(max_length=2000, required=False)
    events = serializers.ListField(child=serializers.CharField(max_length=64), allow_empty=False, max_length=20, required=False, help_text=EVENTS_HELP)
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False, help_text="true re-enables an endpoint PayMe disabled.")


class EndpointOut(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    events = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "events", "description", "enabled", "disabled_reason", "previous_secret_expires_at", "failing_since", "created_at", "updated_at"]
        read_only_fields = fields


class EndpointWithSecretOut(EndpointOut):
    secret = serializers.SerializerMethodField(help_text="whsec_… — shown only now. Store it; verify every webhook with it.")

    class Meta(EndpointOut.Meta):
        fields = [*EndpointOut.Meta.fields, "secret"]
        read_only_fields = fields

    def get_secret(self, obj) -> str:
        return self.context["secret"]


class AttemptOut(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "started_at", "duration_ms", "outcome", "status_code", "error", "response_excerpt", "retry_after_seconds"]
        read_only_fields = fields


class DeliveryOut(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    webhook_id = serializers.CharField(source="event.msg_id", read_only=True, help_text="The webhook-id header: the same for retries and replays.")
    event_type = serializers.ChoiceField(source="event.type", choices=[*EVENT_TYPES, PING], read_only=True)
    endpoint_id = serializers.UUIDField(source="endpoint.public_id", read_only=True)
    replay_of = serializers.UUIDField(source="replay_of.public_id", read_only=True, allow_null=True)
    payload = serializers.JSONField(source="event.payload", read_only=True)
    attempts = AttemptOut(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = ["id", "webhook_id", "event_type", "endpoint_id", "status", "attempt_count", "next_attempt_at", "last_status_code",
                  "last_error", "replay_of", "created_at", "completed_at", "payload", "attempts"]
        read_only_fields = fields


class DeliveryFilterInput(serializers.Serializer):
    endpoint_id = serializers.UUIDField(required=False)
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices, required=False)
    event_type = serializers.ChoiceField(choices=[*EVENT_TYPES, PING], required=False)


class ReplaySinceInput(serializers.Serializer):
    since = serializers.DateTimeField(help_text="Replay every event since this time (ISO 8601).")
    endpoint_id = serializers.UUIDField(required=False, help_text="Only to this endpoint.")


class ReplaySinceOut(serializers.Serializer):
    count = serializers.IntegerField()
    deliveries = serializers.ListField(child=serializers.UUIDField())
