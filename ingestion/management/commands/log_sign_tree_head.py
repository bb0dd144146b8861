import json

from django.core.management.base import BaseCommand

from ingestion.transparency.services import tree_head_json, tree_head_sign


class Command(BaseCommand):
    help = (
        "Sign the transparency log's current size and root (run from cron; the service also "
        "signs one at least every AGENTOPS_LOG_STH_INTERVAL seconds while seals arrive)."
    )

    def handle(self, *args, **options):
        head = tree_head_sign()
        self.stdout.write(json.dumps(tree_head_json(head), sort_keys=True))
