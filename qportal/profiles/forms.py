"""The profile form: field parsing here, the rules in ``validation.validate_profile``.

Each kind reads only its own fields (``KIND_FIELDS``); the page groups them in sections
(``SECTIONS``) and shows the chosen kind's. A field of another kind is ignored when saving, so the
form works the same whether or not a script hides the sections the kind does not use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django import forms

from executors.options import AER_METHODS
from qportal.accounts.models import IBMCredential
from qportal.profiles.backends import backends_for
from qportal.profiles.models import ExecutionMode, ExecutorProfile, ProfileKind
from qportal.profiles.services import InvalidProfileOption
from qportal.profiles.validation import SELECTORS, validate_options

# The form fields each kind reads; ``team``, ``name``, ``description``, ``kind`` and ``shots`` are
# every kind's.
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    ProfileKind.LOCAL: ("method", "single_job", "options"),
    ProfileKind.FAKE: ("fake_backend", "mode", "max_time", "single_job", "local_transpile", "options"),
    ProfileKind.IBM_CLOUD: (
        "credential",
        "ibm_backend",
        "mode",
        "max_time",
        "single_job",
        "local_transpile",
        "options",
    ),
    ProfileKind.PENNYLANE: ("device", "device_options", "options"),
    ProfileKind.CLUSTER: ("members", "selector"),
}
COMMON_FIELDS = ("team", "name", "description", "kind", "shots")


@dataclass(frozen=True)
class Section:
    title: str
    fields: tuple[str, ...]

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(kind for kind, used in KIND_FIELDS.items() if set(self.fields) <= set(used))


SECTIONS = (
    Section("Simulator", ("method",)),
    Section("Fake backend", ("fake_backend",)),
    Section("IBM Quantum", ("credential", "ibm_backend")),
    Section("Execution mode", ("mode", "max_time", "local_transpile")),
    Section("PennyLane device", ("device", "device_options")),
    Section("Cluster members", ("members", "selector")),
    Section("Circuits", ("single_job",)),
    Section("Executor options", ("options",)),
)


class CredentialSelect(forms.Select):
    """Each credential's option says its team (``data-team``), so the page offers only the chosen team's."""

    teams: dict[str, int] = {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        if str(value) in self.teams:
            option["attrs"]["data-team"] = self.teams[str(value)]
        return option


def _json_object(text: str | None, what: str) -> dict:
    text = (text or "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(f"not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(value, dict):
        raise forms.ValidationError(f"{what} must be a JSON object")
    return value


def _json_text(value: dict) -> str:
    return json.dumps(value, indent=1) if value else ""


class ProfileForm(forms.Form):
    team = forms.TypedChoiceField(coerce=int, help_text="Profiles are shared with everyone in the team.")
    name = forms.CharField(max_length=64, help_text="Lowercase letters, digits, '-' or '_'. Used when submitting.")
    description = forms.CharField(max_length=300, required=False)
    kind = forms.ChoiceField(choices=ProfileKind.choices)
    shots = forms.IntegerField(min_value=1, initial=1024)
    method = forms.ChoiceField(
        choices=[(m, m) for m in AER_METHODS],
        initial="automatic",
        required=False,
        help_text="The Aer simulation method",
    )
    fake_backend = forms.ChoiceField(label="Backend", help_text="A fake IBM device: its qubits, coupling map and noise")
    credential = forms.TypedChoiceField(
        coerce=int,
        required=False,
        empty_value=None,
        widget=CredentialSelect,
        help_text="One of the team's IBM credentials",
    )
    ibm_backend = forms.CharField(
        max_length=100,
        required=False,
        label="Backend",
        help_text="A backend the credential reaches, e.g. ibm_brisbane",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    mode = forms.ChoiceField(choices=ExecutionMode.choices, initial=ExecutionMode.JOB)
    max_time = forms.IntegerField(required=False, min_value=1, help_text="Session/batch max_time in seconds")
    local_transpile = forms.BooleanField(required=False, initial=True, help_text="Transpile here, not on IBM's side")
    device = forms.CharField(
        max_length=100, required=False, initial="default.qubit", help_text="e.g. default.qubit, lightning.qubit"
    )
    device_options = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
        help_text='JSON object passed to qml.device, e.g. {"seed": 7}',
    )
    members = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Profiles of the team (and built-ins) that jobs are spread over",
    )
    selector = forms.ChoiceField(choices=[(s, s) for s in SELECTORS], initial="cyclic", required=False)
    single_job = forms.BooleanField(required=False, initial=True, help_text="All circuits in one primitive call")
    options = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text="JSON object: the portal's own keys (optimization_level, seed...) and any field of "
        "qiskit-ibm-runtime's SamplerOptions/EstimatorOptions, e.g. "
        '{"seed": 7, "resilience": {"zne_mitigation": true, "zne": {"noise_factors": [1, 3, 5]}}}',
    )

    def __init__(self, *args, teams=(), profile: ExecutorProfile | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        teams = list(teams)
        team_ids = [t.id for t in teams]
        self.fields["team"].choices = [(t.id, t.name) for t in teams]
        self.fields["fake_backend"].choices = [("auto", "auto: the least busy or least noisy, per job")] + [
            (b["name"], f"{b['name']} ({b['num_qubits']} qubits)")
            for b in backends_for(ExecutorProfile(kind=ProfileKind.FAKE))["backends"]
        ]
        self.fields["fake_backend"].initial = "fake_manila"
        self.credentials = list(
            IBMCredential.objects.filter(team_id__in=team_ids).select_related("team").order_by("team__name", "name")
        )
        self.fields["credential"].choices = [("", "–")] + [
            (team.name, [(c.id, c.name) for c in self.credentials if c.team_id == team.id])
            for team in teams
            if any(c.team_id == team.id for c in self.credentials)
        ]
        self.fields["credential"].widget.teams = {str(c.id): c.team_id for c in self.credentials}
        self.fields["ibm_backend"].widget.attrs["list"] = f"ibm-backends-{self['credential'].value() or ''}"
        self.member_groups = self._member_groups(teams, profile)
        seen: dict[str, str] = {}
        for _, names in self.member_groups:
            seen.update((name, name) for name in names)
        self.fields["members"].choices = list(seen.items())

    @staticmethod
    def _member_groups(teams, profile: ExecutorProfile | None) -> list[tuple[object, list[str]]]:
        """(team or None for the built-ins, profile names) for every profile a cluster may list."""
        candidates = ExecutorProfile.objects.filter(team_id__in=[t.id for t in teams]) | ExecutorProfile.objects.filter(
            team__isnull=True
        )
        candidates = candidates.exclude(kind=ProfileKind.CLUSTER).order_by("name")
        if profile is not None and profile.pk:
            candidates = candidates.exclude(pk=profile.pk)
        rows = list(candidates.values_list("team_id", "name"))
        groups = [(team, [name for team_id, name in rows if team_id == team.id]) for team in teams]
        groups.append((None, [name for team_id, name in rows if team_id is None]))
        return [(team, names) for team, names in groups if names]

    def ibm_backends(self) -> list[tuple[IBMCredential, list[dict]]]:
        """The backends each credential's last check saw, as ``GET /api/v1/backends`` lists them."""
        return [
            (c, backends_for(ExecutorProfile(kind=ProfileKind.IBM_CLOUD, credential=c))["backends"])
            for c in self.credentials
        ]

    def sections(self):
        """The kind sections in page order, each with its bound fields and the kinds that use it."""
        kind = self["kind"].value() or ProfileKind.LOCAL
        return [
            {"section": s, "fields": [self[f] for f in s.fields], "kinds": " ".join(s.kinds), "shown": kind in s.kinds}
            for s in SECTIONS
        ]

    def common_fields(self):
        return [self[f] for f in COMMON_FIELDS]

    def clean_options(self):
        """The JSON object, checked as the API checks it: a bad field is named by its dotted path."""
        options = _json_object(self.cleaned_data.get("options"), "options")
        try:
            return validate_options(options)
        except InvalidProfileOption as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_device_options(self):
        return _json_object(self.cleaned_data.get("device_options"), "device options")

    def clean_members(self):
        return list(dict.fromkeys(self.cleaned_data.get("members") or []))

    def clean(self):
        """Errors of fields the chosen kind does not use are dropped: they cannot matter."""
        data = super().clean()
        used = set(COMMON_FIELDS) | set(KIND_FIELDS.get(data.get("kind") or self.data.get("kind"), ()))
        for name in list(self.errors):
            if name in self.fields and name not in used:
                del self.errors[name]
        return data

    @classmethod
    def initial_for(cls, profile: ExecutorProfile) -> dict:
        options = dict(profile.options or {})
        initial = {
            "team": profile.team_id,
            "name": profile.name,
            "description": profile.description,
            "kind": profile.kind,
            "shots": profile.shots,
            "mode": profile.mode,
            "max_time": profile.max_time,
            "single_job": profile.single_job,
            "local_transpile": profile.local_transpile,
            "credential": profile.credential_id,
            "members": list(profile.members or []),
            "selector": profile.selector or "cyclic",
        }
        if profile.kind == ProfileKind.LOCAL:
            initial["method"] = options.pop("method", "automatic")
        elif profile.kind == ProfileKind.FAKE:
            initial["fake_backend"] = profile.backend
        elif profile.kind == ProfileKind.IBM_CLOUD:
            initial["ibm_backend"] = profile.backend
        elif profile.kind == ProfileKind.PENNYLANE:
            initial["device"] = profile.backend or "default.qubit"
            initial["device_options"] = _json_text(options.pop("device_options", None) or {})
        initial["options"] = _json_text(options)
        return initial

    def apply(self, profile: ExecutorProfile) -> ExecutorProfile:
        """Copy the chosen kind's fields onto ``profile`` (not saved); the others get their defaults.
        Raises ValidationError for a credential of another team or a backend it has not seen."""
        data = self.cleaned_data
        kind = data["kind"]
        used = KIND_FIELDS[kind]
        profile.team_id = data["team"]
        for attr in ("name", "description", "kind", "shots"):
            setattr(profile, attr, data[attr])
        profile.mode = data["mode"] if "mode" in used else ExecutionMode.JOB
        profile.max_time = data["max_time"] if "max_time" in used else None
        profile.single_job = data["single_job"] if "single_job" in used else True
        profile.local_transpile = data["local_transpile"] if "local_transpile" in used else True
        profile.members = data["members"] if "members" in used else []
        profile.selector = (data.get("selector") or "cyclic") if "selector" in used else "cyclic"
        options = dict(data["options"]) if "options" in used else {}
        profile.backend = ""
        profile.credential = None
        if kind == ProfileKind.LOCAL:
            if data["method"] not in ("", "automatic"):
                options["method"] = data["method"]
        elif kind == ProfileKind.FAKE:
            profile.backend = data["fake_backend"]
        elif kind == ProfileKind.PENNYLANE:
            profile.backend = data["device"].strip()
            if data["device_options"]:
                options["device_options"] = data["device_options"]
        elif kind == ProfileKind.IBM_CLOUD:
            self._apply_cloud(profile, data)
        profile.options = options
        return profile

    def _apply_cloud(self, profile: ExecutorProfile, data: dict) -> None:
        profile.backend = data["ibm_backend"].strip()
        if data["credential"] is None:
            return
        profile.credential = next((c for c in self.credentials if c.id == data["credential"]), None)
        if profile.credential is None or profile.credential.team_id != profile.team_id:
            self.add_error("credential", "choose a credential of the profile's team")
            raise forms.ValidationError("bad credential")
        known = [b["name"] for b in profile.credential.backends or []]
        if profile.backend and profile.backend != "auto" and known and profile.backend not in known:
            self.add_error(
                "ibm_backend",
                f"credential {profile.credential.name!r} has not seen {profile.backend!r}; it reaches "
                + ", ".join(known),
            )
            raise forms.ValidationError("bad backend")
