"""`manage.py verify_evidence FILE`: exit 0 only when FILE is an evidence pack signed with EVIDENCE_KEY
and unchanged since; otherwise exit non-zero saying what is wrong."""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from upgrades.evidence import EvidenceInvalid, verify


class Command(BaseCommand):
    help = "Check the signature of an evidence pack (a JSON file downloaded from the portal or its API)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="the evidence pack, a JSON file ('-' reads standard input)")

    def handle(self, *args, **options):
        path = options["file"]
        try:
            if path == "-":
                text = sys.stdin.read()
            else:
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
            pack = json.loads(text)
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror or error}.") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CommandError(f"{path} is not JSON: {error}.") from None
        try:
            evidence = verify(pack)
        except EvidenceInvalid as error:
            raise CommandError(f"TAMPERED or not signed by this portal: {error}") from None
        request = evidence.get("request", {})
        self.stdout.write(
            f"Intact: evidence pack of {request.get('reference', 'a request')}, generated "
            f"{evidence.get('generated_at')}, {len(evidence.get('events', []))} events, "
            f"{len(evidence.get('cf_calls', []))} CF calls, {len(evidence.get('mails', []))} mails."
        )
