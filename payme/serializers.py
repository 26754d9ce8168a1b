"""Serializer helpers shared by the apps."""

from rest_framework import serializers


class OutputSerializer(serializers.Serializer):
    """A read-only answer serializer that builds and binds its fields once per class.

    DRF deep-copies every declared field (re-running each field's ``__init__``) for every
    serializer instance, which was a third of a millisecond per payment start's answer
    (bench/README.md). Rendering does not change a bound field, so one set per class is enough.
    The price: the fields are bound to a context-free prototype, so an answer serializer built
    on this takes no ``context`` (its methods see their arguments, not ``self.context``) and is
    never used for input; both are refused.
    """

    def __init__(self, *args, **kwargs):
        if kwargs.get("context") or "data" in kwargs:
            raise TypeError(f"{type(self).__name__} renders answers only: no context, no data")
        super().__init__(*args, **kwargs)

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
