"""The profile form: field parsing here, the rules in ``validation.validate_profile``."""

from __future__ import annotations

import json

from django import forms

from qportal.accounts.models import IBMCredential
from qportal.profiles.models import ExecutionMode, ExecutorProfile, ProfileKind
from qportal.profiles.validation import SELECTORS


class ProfileForm(forms.Form):
    team = forms.TypedChoiceField(coerce=int, help_text="Profiles are shared with everyone in the team.")
    name = forms.CharField(max_length=64, help_text="Lowercase letters, digits, '-' or '_'. Used when submitting.")
    description = forms.CharField(max_length=300, required=False)
    kind = forms.ChoiceField(choices=ProfileKind.choices)
    backend = forms.CharField(max_length=100, required=False, help_text="e.g. fake_manila, ibm_brisbane, default.qubit")
    shots = forms.IntegerField(min_value=1, initial=1024)
    mode = forms.ChoiceField(choices=ExecutionMode.choices, initial=ExecutionMode.JOB)
    max_time = forms.IntegerField(required=False, min_value=1, help_text="Session/batch max_time in seconds")
    single_job = forms.BooleanField(required=False, initial=True, help_text="All circuits in one primitive call")
    local_transpile = forms.BooleanField(required=False, initial=True)
    credential = forms.CharField(required=False, help_text="Name of a team IBM credential (IBM cloud profiles)")
    members = forms.CharField(required=False, help_text="Cluster: member profile names, comma-separated")
    selector = forms.ChoiceField(choices=[(s, s) for s in SELECTORS], initial="cyclic", required=False)
    options = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text='JSON object, e.g. {"optimization_level": 1, "seed": 7}',
    )

    def __init__(self, *args, teams=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = [(t.id, t.name) for t in teams]

    def clean_options(self):
        text = (self.cleaned_data.get("options") or "").strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"not valid JSON: {exc.msg} (line {exc.lineno})") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("options must be a JSON object")
        return value

    def clean_members(self):
        return [m.strip() for m in (self.cleaned_data.get("members") or "").split(",") if m.strip()]

    @classmethod
    def initial_for(cls, profile: ExecutorProfile) -> dict:
        return {
            "team": profile.team_id,
            "name": profile.name,
            "description": profile.description,
            "kind": profile.kind,
            "backend": profile.backend,
            "shots": profile.shots,
            "mode": profile.mode,
            "max_time": profile.max_time,
            "single_job": profile.single_job,
            "local_transpile": profile.local_transpile,
            "credential": profile.credential.name if profile.credential_id else "",
            "members": ", ".join(profile.members or []),
            "selector": profile.selector or "cyclic",
            "options": json.dumps(profile.options or {}, indent=1) if profile.options else "",
        }

    def apply(self, profile: ExecutorProfile) -> ExecutorProfile:
        """Copy the cleaned fields onto ``profile`` (not saved). Raises ValidationError for a bad credential."""
        data = self.cleaned_data
        profile.team_id = data["team"]
        for attr in (
            "name",
            "description",
            "kind",
            "backend",
            "shots",
            "mode",
            "max_time",
            "single_job",
            "local_transpile",
            "members",
            "options",
        ):
            setattr(profile, attr, data[attr])
        profile.selector = data.get("selector") or "cyclic"
        profile.credential = None
        if data["credential"]:
            profile.credential = IBMCredential.objects.filter(team_id=profile.team_id, name=data["credential"]).first()
            if profile.credential is None:
                self.add_error("credential", f"no credential named {data['credential']!r} in this team")
                raise forms.ValidationError("bad credential")
        return profile
