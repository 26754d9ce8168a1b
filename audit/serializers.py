from rest_framework import serializers

from audit.models import AuditEvent


class AuditFilterInput(serializers.Serializer):
    action = serializers.CharField(required=False, max_length=64, help_text='An action ("payment_config.updated"), or a prefix ending in "." ("webhook_endpoint.").')
    object_type = serializers.CharField(required=False, max_length=64)
    object_id = serializers.CharField(required=False, max_length=64)
    actor_email = serializers.CharField(required=False, max_length=254)
    since = serializers.DateTimeField(required=False, help_text="Events at or after this time (ISO 8601).")
    until = serializers.DateTimeField(required=False, help_text="Events before this time (ISO 8601).")


class AuditEventOut(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    actor = serializers.CharField(source="actor_email", read_only=True, help_text="The actor's email; empty for the system.")

    class Meta:
        model = AuditEvent
        fields = ["id", "created_at", "actor", "action", "object_type", "object_id", "before", "after", "request_id", "ip"]
        read_only_fields = fields
