"""Serializer helpers shared by the apps."""

from rest_framework import serializers


class FieldsOnceSerializer(serializers.Serializer):
    """A serializer that builds and binds its fields once per class, not once per instance.

    DRF deep-copies every declared field (re-running each field's ``__init__``) for every
    serializer instance: a third of a millisecond for a payment start's answer, a quarter for its
    body (bench/README.md). Validating or rendering does not change a bound field — what a run
    holds (``initial_data``, errors, the validated data) lives on the serializer instance — so one
    set per class is enough.

    The price: the fields are bound to a prototype without context, instance or ``partial``, so a
    serializer built on this takes none of those (its fields and ``get_*`` methods would see the
    prototype's). It serves one answer (``instance``) or one body (``data``); the rest is refused.
    """

    def __init__(self, instance=None, data=serializers.empty, **kwargs):
        if kwargs.get("context") or kwargs.get("partial") or (instance is not None and data is not serializers.empty):
            raise TypeError(f"{type(self).__name__} binds its fields once: no context, no partial update")
        super().__init__(instance, data, **kwargs)

    @property
    def fields(self):
        cls = type(self)
        shared = cls.__dict__.get("_shared_fields")
        if shared is None:
            # Built on a prototype of this very class by DRF's own code (a race builds it twice,
            # harmlessly). Kept per class: a subclass declares fields of its own.
            shared = serializers.Serializer.fields.func(cls())
            cls._shared_fields = shared
        return shared
