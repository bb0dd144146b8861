"""Saved filters of the session list: a reviewer's named query strings.

A saved filter keeps the list's query string only, never a person searched for: the person
search is answered through a token that lives in the reviewer's own signed-in session
(``compliance.find``), and a query string holding personal data is refused when saving.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class SavedFilter(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agentops_saved_filters"
    )
    name = models.CharField(max_length=100)
    # The session list's query string, without "?", the page number or a person token.
    query = models.CharField(max_length=2000, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "saved filter"
        ordering = ("name", "pk")
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="saved_filter_user_name_uniq")
        ]

    def __str__(self) -> str:
        return self.name
