"""The console's password hasher.

Django re-hashes a stored password at login when its hasher would now make a different hash
(after an upgrade raises PBKDF2's iterations, for instance) and saves it on the spot. The
service's database role may not write ``auth_user.password`` (``db_grant_service_role``), so
that save would turn the login into a server error. This hasher checks passwords exactly as
Django's PBKDF2 hasher does and never asks for that re-hash; new passwords, set by the owner's
``changepassword`` or ``create_reviewer``, get the current iteration count.
"""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class PBKDF2KeptAtLoginHasher(PBKDF2PasswordHasher):
    # The same algorithm name: hashes made before or by Django's own hasher stay readable.
    def must_update(self, encoded: str) -> bool:
        return False
