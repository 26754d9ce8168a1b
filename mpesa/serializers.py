from rest_framework import serializers


class TimelineStepOut(serializers.Serializer):
    at = serializers.DateTimeField()
    kind = serializers.CharField(
        help_text="created, sent, prompt, no_answer, callback, query, stock, wallet, refund (a sale's refund), webhook, "
        "or the final status (succeeded, failed, cancelled, expired, needs_review); a payout's also awaiting_approval, "
        "approved, rejected, queued, accepted, refused."
    )
    text = serializers.CharField(help_text="What happened, in plain words.")


class TimelineOut(serializers.Serializer):
    id = serializers.UUIDField(help_text="The sale's, the purchase's or the payout's id.")
    steps = TimelineStepOut(many=True, help_text="Oldest first.")
