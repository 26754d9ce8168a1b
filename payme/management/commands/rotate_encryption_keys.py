from cryptography.fernet import InvalidToken
from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from payme.encryption import PREFIX, EncryptedTextField, Secret, fernet, rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted field with the first key of FIELD_ENCRYPTION_KEYS. "
        "Safe to re-run; afterwards the old keys can be removed from the list."
    )

    def handle(self, *args, **options):
        primary = fernet()._fernets[0]
        total_rows = total_values = 0
        for model in apps.get_models():
            fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
            if not fields:
                continue
            names = [f.attname for f in fields]
            rows = values = 0
            for pk in model._default_manager.values_list("pk", flat=True).iterator():
                with transaction.atomic():
                    stored = model._default_manager.filter(pk=pk).select_for_update().values(*names).first()
                    if stored is None:
                        continue
                    changes = {}
                    for name, raw in stored.items():
                        raw = getattr(raw, "stored", raw)
                        if not raw:
                            continue
                        try:
                            primary.decrypt(raw[len(PREFIX) :].encode())
                            continue  # already under the first key
                        except InvalidToken:
                            pass
                        changes[name] = rotate(raw)
                    if changes:
                        # .update() bypasses get_prep_value's encryption: values are ciphertext.
                        model._default_manager.filter(pk=pk).update(
                            **{k: Secret(v) for k, v in changes.items()}
                        )
                        rows += 1
                        values += len(changes)
            self.stdout.write(f"{model._meta.label}: re-encrypted {values} value(s) in {rows} row(s)")
            total_rows += rows
            total_values += values
        self.stdout.write(self.style.SUCCESS(f"Done: {total_values} value(s) in {total_rows} row(s) re-encrypted."))

