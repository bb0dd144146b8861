"""The log's API: tree heads, proofs and leaves. Thin views over ``services``.

Tree heads, consistency proofs and leaves are public (a leaf holds no tenant data: no payload,
no project); an inclusion proof names a session, so it needs that session's project's key.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors
from ..api.serializers import QuerySerializer
from ..api.views import errors
from ..errors import IngestionError
from . import services

#: The most leaves one request returns; a monitor pages with ``start``.
LEAVES_PAGE = 1000
SIZE_MAX = 2**62


class SignatureSerializer(serializers.Serializer):
    alg = serializers.CharField()
    value = serializers.CharField(help_text="base64 Ed25519 over RFC 8785 of the other members")


class TreeHeadSerializer(serializers.Serializer):
    tree_size = serializers.IntegerField()
    root_hash = serializers.CharField(help_text="hex SHA-256, RFC 9162 §2.1.1")
    timestamp = serializers.CharField()
    key_id = serializers.CharField(help_text="a key of GET /api/v1/keys")
    signature = SignatureSerializer()
    tsa_token = serializers.CharField(
        required=False, help_text="base64 RFC 3161 token over RFC 8785 of the signed head"
    )


class InclusionSerializer(serializers.Serializer):
    leaf_index = serializers.IntegerField()
    leaf = serializers.CharField(help_text="RFC 8785 JSON of the seal; hash: SHA-256(0x00||leaf)")
    leaf_hash = serializers.CharField()
    tree_head = TreeHeadSerializer()
    audit_path = serializers.ListField(child=serializers.CharField())


class ConsistencySerializer(serializers.Serializer):
    first = serializers.IntegerField()
    second = serializers.IntegerField()
    consistency_path = serializers.ListField(child=serializers.CharField())


class LeafSerializer(serializers.Serializer):
    leaf_index = serializers.IntegerField()
    leaf = serializers.CharField()


class LeavesSerializer(serializers.Serializer):
    start = serializers.IntegerField()
    end = serializers.IntegerField(help_text="exclusive; at most 1000 leaves per page")
    leaves = LeafSerializer(many=True)


class TreeHeadQuery(QuerySerializer):
    tree_size = serializers.IntegerField(required=False, min_value=0, max_value=SIZE_MAX)


class InclusionQuery(QuerySerializer):
    session_id = serializers.CharField(max_length=100)
    tree_size = serializers.IntegerField(required=False, min_value=1, max_value=SIZE_MAX)


class ConsistencyQuery(QuerySerializer):
    first = serializers.IntegerField(min_value=1, max_value=SIZE_MAX)
    second = serializers.IntegerField(min_value=1, max_value=SIZE_MAX)


class LeavesQuery(QuerySerializer):
    start = serializers.IntegerField(min_value=0, max_value=SIZE_MAX)
    end = serializers.IntegerField(min_value=1, max_value=SIZE_MAX)


class _Public(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]


class TreeHeadView(_Public):
    @extend_schema(
        operation_id="log_tree_head",
        auth=[],
        parameters=[TreeHeadQuery],
        responses={
            200: TreeHeadSerializer,
            **errors("VALIDATION_ERROR", "TREE_HEAD_NOT_FOUND", "RATE_LIMITED", public=True),
        },
        summary="The transparency log's latest signed tree head, or the latest of a size",
    )
    def get(self, request):
        query = TreeHeadQuery.from_request(request)
        tree_size = query.get("tree_size")
        if tree_size is None and not services.tree_head_exists():
            head = services.tree_head_sign()  # the first head, made on demand
        else:
            head = services.tree_head_get(tree_size=tree_size)
        return Response(services.tree_head_json(head))


class InclusionView(APIView):
    @extend_schema(
        operation_id="log_inclusion",
        parameters=[InclusionQuery],
        responses={
            200: InclusionSerializer,
            **errors(
                "VALIDATION_ERROR",
                "SESSION_NOT_FOUND",
                "LOG_ENTRY_NOT_FOUND",
                "TREE_HEAD_NOT_FOUND",
                "LOG_SIZE_INVALID",
            ),
        },
        summary="A session's entry in the log and its audit path to a signed tree head",
    )
    def get(self, request):
        query = InclusionQuery.from_request(request)
        session = selectors.session_get(
            project=request.auth.project, session_id=query["session_id"]
        )
        proof = services.session_inclusion(
            session_id=str(session.pk), tree_size=query.get("tree_size")
        )
        if proof is None:
            raise IngestionError(
                "LOG_ENTRY_NOT_FOUND",
                "the session has no entry in the log (not sealed, or sealed before the log)",
                status=404,
            )
        return Response(proof)


class ConsistencyView(_Public):
    @extend_schema(
        operation_id="log_consistency",
        auth=[],
        parameters=[ConsistencyQuery],
        responses={
            200: ConsistencySerializer,
            **errors("VALIDATION_ERROR", "LOG_SIZE_INVALID", "RATE_LIMITED", public=True),
        },
        summary="Proof that the log of size first is a prefix of the log of size second",
    )
    def get(self, request):
        query = ConsistencyQuery.from_request(request)
        proof = services.log_consistency_proof(first=query["first"], second=query["second"])
        return Response(
            {
                "first": query["first"],
                "second": query["second"],
                "consistency_path": [p.hex() for p in proof],
            }
        )


class LeavesView(_Public):
    @extend_schema(
        operation_id="log_leaves",
        auth=[],
        parameters=[LeavesQuery],
        responses={
            200: LeavesSerializer,
            **errors("VALIDATION_ERROR", "LOG_SIZE_INVALID", "RATE_LIMITED", public=True),
        },
        summary="Leaves [start, end) of the log, at most 1000 (for monitors)",
    )
    def get(self, request):
        query = LeavesQuery.from_request(request)
        start, end = query["start"], query["end"]
        size = services.log_size()
        if not start < end <= size:
            raise IngestionError(
                "LOG_SIZE_INVALID",
                "leaves need start < end <= the log's size",
                status=400,
                details={"start": start, "end": end, "log_size": size},
            )
        end = min(end, start + LEAVES_PAGE)
        rows = services.log_leaves(start=start, end=end)
        return Response(
            {
                "start": start,
                "end": end,
                "leaves": [{"leaf_index": r.leaf_index, "leaf": r.leaf} for r in rows],
            }
        )
