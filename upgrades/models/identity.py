"""Who signed in through the OpenID Connect provider (UAA), and what the provider said of them."""

from django.conf import settings
from django.db import models


class ProviderIdentity(models.Model):
    """The portal user a provider's subject signs in as. ``ec_team`` is what the provider's claim said
    at the last sign-in: for these users it, not a group checkbox alone, decides EC team rights."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="provider_identity"
    )
    issuer = models.CharField(max_length=300)
    subject = models.CharField(max_length=255)
    ec_team = models.BooleanField(default=False)
    signed_in_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="provider_identity_unique")]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
