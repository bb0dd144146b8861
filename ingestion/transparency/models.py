"""The transparency log's tables: leaves, complete subtrees, signed tree heads.

All three are append-only: the models refuse changes and deletions, and the triggers of
migration 0010 refuse them in the database (UPDATE, DELETE, and TRUNCATE on PostgreSQL).
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

from ..errors import AppendOnlyError


class _AppendOnly(models.Model):
    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError(f"{self._meta.verbose_name_plural} cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError(f"{self._meta.verbose_name_plural} cannot be deleted")


class LogLeaf(_AppendOnly):
    """Entry ``leaf_index`` of the log: one seal, as the RFC 8785 bytes the tree hashes."""

    leaf_index = models.BigIntegerField(primary_key=True)
    session = models.OneToOneField(
        "ingestion.Session", on_delete=models.PROTECT, related_name="log_leaf"
    )
    leaf = models.TextField()  # RFC 8785 JSON of the seal's statement (merkle.seal_leaf)
    leaf_hash = models.CharField(max_length=64)
    appended_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "log leaf"

    def __str__(self) -> str:
        return f"leaf {self.leaf_index}"


class LogNode(_AppendOnly):
    """The hash of a complete subtree: leaves [position * 2**level, (position + 1) * 2**level).

    Written once, when its last leaf arrives; level 0 holds the leaf hashes. Any root or proof
    is made of O(log n) of these.
    """

    id = models.BigAutoField(primary_key=True)
    level = models.SmallIntegerField()
    position = models.BigIntegerField()
    hash = models.CharField(max_length=64)

    class Meta:
        verbose_name = "log node"
        constraints = [
            models.UniqueConstraint(fields=["level", "position"], name="lognode_level_position")
        ]

    def __str__(self) -> str:
        return f"node {self.level}/{self.position}"


class TreeHead(_AppendOnly):
    """A signed statement of the log's size and root at a moment (RFC 9162's STH)."""

    id = models.BigAutoField(primary_key=True)
    tree_size = models.BigIntegerField()
    root_hash = models.CharField(max_length=64)
    timestamp = models.CharField(max_length=40)
    key_id = models.CharField(max_length=16)
    signature = models.TextField()  # base64 Ed25519 over merkle.tree_head_message
    # An RFC 3161 time-stamp token (base64 DER) over the signed head, when a TSA is configured.
    tsa_token = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "signed tree head"
        indexes = [models.Index(fields=["tree_size", "-id"], name="treehead_size_idx")]

    def __str__(self) -> str:
        return f"tree head {self.tree_size} at {self.timestamp}"
