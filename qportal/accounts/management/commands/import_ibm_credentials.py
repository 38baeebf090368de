"""Import an IBM Quantum credential from the environment or a saved qiskit account file.

Sources, in order: ``QISKIT_IBM_TOKEN`` (with ``QISKIT_IBM_INSTANCE``, ``QISKIT_IBM_CHANNEL``,
``QISKIT_IBM_URL``), else ``--file`` (default ``~/.qiskit/qiskit-ibm.json``, the file
``QiskitRuntimeService.save_account`` writes). The file is only read; nothing is saved back to it.
The token is encrypted at once and never printed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from qportal.accounts import credentials
from qportal.accounts.models import IBMCredential, Team

DEFAULT_FILE = Path.home() / ".qiskit" / "qiskit-ibm.json"


def _from_env() -> credentials.Fields | None:
    token = os.environ.get("QISKIT_IBM_TOKEN")
    if not token:
        return None
    return credentials.Fields(
        name="",
        token=token,
        channel=os.environ.get("QISKIT_IBM_CHANNEL") or IBMCredential.Channel.PLATFORM,
        instance=os.environ.get("QISKIT_IBM_INSTANCE", ""),
        url=os.environ.get("QISKIT_IBM_URL", ""),
    )


def _from_file(path: Path, account: str | None) -> credentials.Fields:
    try:
        accounts = json.loads(path.read_text())
    except FileNotFoundError:
        raise CommandError(f"no QISKIT_IBM_TOKEN in the environment and no account file at {path}") from None
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot read {path}: {type(exc).__name__}") from None
    if not isinstance(accounts, dict) or not accounts:
        raise CommandError(f"{path} holds no saved accounts")
    if account is None:
        defaults = [n for n, a in accounts.items() if isinstance(a, dict) and a.get("is_default_account")]
        if len(defaults) == 1:
            account = defaults[0]
        elif len(accounts) == 1:
            account = next(iter(accounts))
        else:
            raise CommandError(
                f"{path} holds several accounts ({', '.join(sorted(accounts))}); choose one with --account"
            )
    entry = accounts.get(account)
    if not isinstance(entry, dict) or not entry.get("token"):
        raise CommandError(f"{path} has no account {account!r} with a token")
    return credentials.Fields(
        name="",
        token=str(entry["token"]),
        channel=entry.get("channel") or IBMCredential.Channel.PLATFORM,
        instance=entry.get("instance") or "",
        url=entry.get("url") or "",
        proxies=entry.get("proxies") or None,
        verify=entry.get("verify", True) is not False,
    )


class Command(BaseCommand):
    help = "Import an IBM Quantum credential from QISKIT_IBM_* variables or ~/.qiskit/qiskit-ibm.json into a team."

    def add_arguments(self, parser):
        parser.add_argument("--team", type=int, required=True, help="team id")
        parser.add_argument("--name", required=True, help="credential name in the team")
        parser.add_argument("--file", type=Path, help=f"account file (default {DEFAULT_FILE})")
        parser.add_argument("--account", help="account name inside the file (default: its default account)")
        parser.add_argument("--replace", action="store_true", help="replace the team's credential of that name")

    def handle(self, *args, team, name, file, account, replace, **options):
        team_obj = Team.objects.filter(id=team).first()
        if team_obj is None:
            raise CommandError(f"no team with id {team}")
        fields = None if file is not None else _from_env()
        source = "environment (QISKIT_IBM_TOKEN)"
        if fields is None:
            path = file or DEFAULT_FILE
            fields = _from_file(path, account)
            source = str(path)
        fields.name = name
        try:
            existing = IBMCredential.objects.filter(team=team_obj, name=name.strip()).first()
            if existing is not None and not replace:
                raise CommandError(f"team {team_obj.name!r} already has a credential named {name!r}; use --replace")
            cred = credentials.update(existing, fields) if existing else credentials.create(None, team_obj.id, fields)
        except (credentials.CredentialInvalid, credentials.CredentialConflict) as exc:
            raise CommandError(str(exc)) from None
        verb = "replaced" if existing else "imported"
        self.stdout.write(
            f"{verb} credential {cred.name!r} ({cred.masked}, {cred.channel}) into team {team_obj.name!r} "
            f"from {source}; status {cred.status}: a worker checks it shortly"
        )
