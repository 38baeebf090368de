"""Re-encrypt every stored IBM token under the newest key of ``QPORTAL_FERNET_KEYS``.

Rotation: put a new key first in ``QPORTAL_FERNET_KEYS`` (keep the old ones after it), run this
command, then drop the old keys. Prints counts only, never a token.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from qportal.accounts import vault
from qportal.accounts.models import IBMCredential


class Command(BaseCommand):
    help = "Re-encrypt every IBM credential under the newest Fernet key (the first of QPORTAL_FERNET_KEYS)."

    def handle(self, *args, **options):
        rotated, failed = 0, []
        for cred_id, name, ciphertext in IBMCredential.objects.values_list("id", "name", "token_encrypted").order_by(
            "id"
        ):
            try:
                fresh = vault.rotate(ciphertext)
            except vault.VaultError:
                failed.append(f"{cred_id} ({name})")
                continue
            with transaction.atomic():
                # Conditional: a token replaced meanwhile is already under the newest key.
                rotated += IBMCredential.objects.filter(id=cred_id, token_encrypted=ciphertext).update(
                    token_encrypted=fresh
                )
        self.stdout.write(f"re-encrypted {rotated} credential(s) under the newest key")
        if failed:
            raise CommandError(
                f"{len(failed)} credential(s) could not be decrypted with any configured key: {', '.join(failed)}; "
                "keep the old keys until they are replaced"
            )
