"""IBM credentials: the write-only API, access, the page, key rotation and the import command."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.test import Client

from qportal.accounts import vault
from qportal.accounts.models import IBMCredential
from qportal.profiles.models import ExecutorProfile

TOKEN = "tok-SECRET-7f3a9c2e51d84b06a1-wxyz"


def body(**fields):
    return {"name": "main", "token": TOKEN, "instance": "crn:v1:standin::", **fields}


def create(api, team, **fields):
    resp = api.post("/credentials", body(team=team.id, **fields))
    assert resp.status_code == 201, resp.content
    return resp.json()


def no_token(*texts: str | bytes, token: str = TOKEN) -> None:
    for text in texts:
        text = text.decode() if isinstance(text, bytes) else text
        assert token not in text


def test_create_is_masked_and_unchecked(api_for, users):
    api = api_for("alice")
    resp = api.post("/credentials", body(team=users["lab"].id))
    assert resp.status_code == 201
    out = resp.json()
    assert out["token_hint"] == "****wxyz" and out["status"] == "unchecked" and out["team"] == users["lab"].id
    assert set(out) == {
        "id",
        "name",
        "team",
        "channel",
        "instance",
        "url",
        "token_hint",
        "status",
        "status_reason",
        "checked_at",
        "backends",
        "profiles",
        "created",
        "usage",
        "usage_checked_at",
    }
    listed = api.get("/credentials")
    assert [c["name"] for c in listed.json()] == ["main"]
    no_token(resp.content, listed.content, api.get(f"/credentials/{out['id']}").content)
    cred = IBMCredential.objects.get(id=out["id"])
    assert cred.decrypt_token() == TOKEN and TOKEN not in cred.token_encrypted
    assert cred.created_by == users["alice"]


def test_bad_input_is_refused_without_echoing_the_token(api_for, users):
    api = api_for("alice")
    cases = [
        body(team=users["lab"].id, name=""),
        body(team=users["lab"].id, channel="ibm_quantum"),
        body(team=users["lab"].id, url="ftp://x"),
        body(team=users["lab"].id, proxies={"bogus": TOKEN}),
        body(team=users["lab"].id, token=TOKEN + " with spaces"),
        body(team=users["lab"].id, token="short"),
        {"token": TOKEN},  # missing name: the schema error must not quote the payload
        body(team=users["lab"].id, verify={"x": TOKEN}),
    ]
    for case in cases:
        resp = api.post("/credentials", case)
        assert resp.status_code in (400, 422), (case, resp.content)
        assert resp.json()["detail"]
        no_token(resp.content)
    assert not IBMCredential.objects.exists()


def test_duplicate_name_is_409(api_for, users):
    api = api_for("alice")
    create(api, users["lab"])
    resp = api.post("/credentials", body(team=users["lab"].id))
    assert resp.status_code == 409 and "already has a credential named 'main'" in resp.json()["detail"]
    no_token(resp.content)
    assert create(api, users["lab"], name="second")["name"] == "second"


def test_put_replaces_token_and_resets_status(api_for, users):
    api = api_for("bob")
    cred = create(api, users["lab"])
    IBMCredential.objects.filter(id=cred["id"]).update(status="valid", status_reason="ok", backends=[{"name": "ibm_x"}])
    before = IBMCredential.objects.get(id=cred["id"]).token_encrypted

    kept = api.put(f"/credentials/{cred['id']}", {"name": "renamed", "instance": "crn:v1:standin::"})
    assert kept.status_code == 200, kept.content
    assert (
        kept.json()["status"] == "valid" and kept.json()["name"] == "renamed" and kept.json()["backends"] == ["ibm_x"]
    )
    assert IBMCredential.objects.get(id=cred["id"]).token_encrypted == before

    new_token = "another-token-0123456789-abcd"
    replaced = api.put(
        f"/credentials/{cred['id']}", {"name": "renamed", "token": new_token, "instance": "crn:v1:standin::"}
    )
    assert replaced.json()["token_hint"] == "****abcd" and replaced.json()["status"] == "unchecked"
    assert replaced.json()["backends"] == [] and replaced.json()["checked_at"] is None
    no_token(replaced.content, token=new_token)
    assert IBMCredential.objects.get(id=cred["id"]).decrypt_token() == new_token

    # Moving the credential needs its token again (tests/hostile/test_credential_pinning.py).
    moved = api.put(f"/credentials/{cred['id']}", {"name": "renamed", "token": new_token, "instance": "crn:v1:other::"})
    assert moved.json()["instance"] == "crn:v1:other::" and moved.json()["status"] == "unchecked"


def test_delete_refuses_while_a_profile_uses_it(api_for, users):
    api = api_for("alice")
    cred = create(api, users["lab"])
    resp = api.post(
        "/profiles",
        {"name": "cloud", "kind": "ibm_cloud", "backend": "ibm_manila", "credential": "main", "team": users["lab"].id},
    )
    assert resp.status_code == 201, resp.content
    assert api.get(f"/credentials/{cred['id']}").json()["profiles"] == ["cloud"]
    refused = api.client.delete(f"/api/v1/credentials/{cred['id']}", **api.headers)
    assert refused.status_code == 409 and "cloud" in refused.json()["detail"]
    ExecutorProfile.objects.filter(name="cloud").delete()
    deleted = api.client.delete(f"/api/v1/credentials/{cred['id']}", **api.headers)
    assert deleted.status_code == 204
    assert not IBMCredential.objects.exists()


def test_check_marks_it_for_the_worker(api_for, users):
    api = api_for("alice")
    cred = create(api, users["lab"])
    IBMCredential.objects.filter(id=cred["id"]).update(
        status="invalid", status_reason="refused", checked_at="2024-01-01T00:00Z"
    )
    resp = api.post(f"/credentials/{cred['id']}/check")
    assert resp.status_code == 202 and resp.json()["status"] == "unchecked" and resp.json()["checked_at"] is None


def test_other_team_is_404_and_viewer_is_403(api_for, users):
    cred = create(api_for("alice"), users["lab"])
    path = f"/credentials/{cred['id']}"
    charlie = api_for("charlie")
    assert charlie.get(path).status_code == 404
    assert charlie.get("/credentials").json() == []
    assert charlie.put(path, {"name": "x", "token": TOKEN}).status_code == 404
    assert charlie.post(f"{path}/check").status_code == 404
    assert charlie.client.delete(f"/api/v1{path}", **charlie.headers).status_code == 404
    assert charlie.post("/credentials", body(team=users["lab"].id, name="mine")).status_code == 404

    viola = api_for("viola")
    assert viola.get(path).json()["token_hint"] == "****wxyz"
    assert viola.post("/credentials", body(team=users["lab"].id, name="v")).status_code == 403
    assert viola.put(path, {"name": "x", "token": TOKEN}).status_code == 403
    assert viola.post(f"{path}/check").status_code == 403
    assert viola.client.delete(f"/api/v1{path}", **viola.headers).status_code == 403
    assert api_for(None).get("/credentials").status_code == 401
    assert IBMCredential.objects.get().name == "main"


# -- key rotation ------------------------------------------------------------------------------
def test_rotate_keys_re_encrypts_under_the_new_key(api_for, users, settings, capsys):
    old = list(settings.FERNET_KEYS)
    tokens = {f"cred{i}": f"rotate-token-{i}-0123456789" for i in range(3)}
    for name, token in tokens.items():
        create(api_for("alice"), users["lab"], name=name, token=token)
    before = dict(IBMCredential.objects.values_list("name", "token_encrypted"))

    new_key = Fernet.generate_key().decode()
    settings.FERNET_KEYS = [new_key, *old]
    call_command("rotate_keys")
    out = capsys.readouterr().out
    assert "re-encrypted 3 credential(s)" in out
    no_token(out, *tokens.values())

    settings.FERNET_KEYS = [new_key]  # the old key is gone: every token still decrypts
    for cred in IBMCredential.objects.all():
        assert cred.token_encrypted != before[cred.name]
        assert cred.decrypt_token() == tokens[cred.name]
        assert Fernet(new_key.encode()).decrypt(cred.token_encrypted.encode()).decode() == tokens[cred.name]


def test_rotate_keys_reports_tokens_it_cannot_decrypt(api_for, users, settings, capsys):
    create(api_for("alice"), users["lab"])
    settings.FERNET_KEYS = [Fernet.generate_key().decode()]  # the key that encrypted it is missing
    with pytest.raises(CommandError, match=r"1 credential\(s\) could not be decrypted.*main"):
        call_command("rotate_keys")
    assert "re-encrypted 0" in capsys.readouterr().out
    with pytest.raises(vault.VaultError):
        IBMCredential.objects.get().decrypt_token()


# -- import command ----------------------------------------------------------------------------
@pytest.fixture
def no_save_account(monkeypatch):
    from qiskit_ibm_runtime import QiskitRuntimeService

    def refuse(*args, **kwargs):
        raise AssertionError("save_account must never be called")

    monkeypatch.setattr(QiskitRuntimeService, "save_account", refuse)


def test_import_from_environment(users, monkeypatch, capsys, no_save_account):
    monkeypatch.setenv("QISKIT_IBM_TOKEN", TOKEN)
    monkeypatch.setenv("QISKIT_IBM_INSTANCE", "crn:v1:bluemix:public:quantum-computing:us-east:a/x:y::")
    monkeypatch.setenv("QISKIT_IBM_CHANNEL", "ibm_cloud")
    call_command("import_ibm_credentials", "--team", str(users["lab"].id), "--name", "from-env")
    out = capsys.readouterr().out
    no_token(out)
    assert "****wxyz" in out and "from-env" in out
    cred = IBMCredential.objects.get(name="from-env")
    assert (cred.team, cred.channel, cred.status) == (users["lab"], "ibm_cloud", "unchecked")
    assert cred.instance.endswith("a/x:y::") and cred.decrypt_token() == TOKEN

    with pytest.raises(CommandError, match="already has a credential named 'from-env'"):
        call_command("import_ibm_credentials", "--team", str(users["lab"].id), "--name", "from-env")
    monkeypatch.setenv("QISKIT_IBM_TOKEN", "replacement-token-000000-qrst")
    call_command("import_ibm_credentials", "--team", str(users["lab"].id), "--name", "from-env", "--replace")
    assert IBMCredential.objects.get(name="from-env").token_last4 == "qrst"


def test_import_from_saved_account_file(users, tmp_path, monkeypatch, capsys, no_save_account, settings):
    monkeypatch.delenv("QISKIT_IBM_TOKEN", raising=False)
    settings.IBM_PROXY_HOSTS = ["proxy.example"]  # the lab's proxy, listed by its administrator
    path = tmp_path / "qiskit-ibm.json"
    path.write_text(
        json.dumps(
            {
                "other": {"channel": "ibm_cloud", "token": "not-this-one-00000000", "instance": "crn:other"},
                "default-ibm-quantum-platform": {
                    "channel": "ibm_quantum_platform",
                    "token": TOKEN,
                    "instance": "crn:mine",
                    "url": "https://cloud.ibm.com",
                    "proxies": {"urls": {"https": "http://proxy.example:3128"}},
                    "verify": True,
                    "is_default_account": True,
                },
            }
        )
    )
    before = path.read_text()
    call_command("import_ibm_credentials", "--team", str(users["lab"].id), "--name", "saved", "--file", str(path))
    no_token(capsys.readouterr().out)
    cred = IBMCredential.objects.get(name="saved")
    assert (cred.instance, cred.url, cred.channel) == ("crn:mine", "https://cloud.ibm.com", "ibm_quantum_platform")
    assert cred.proxies == {"urls": {"https": "http://proxy.example:3128"}} and cred.decrypt_token() == TOKEN
    assert path.read_text() == before

    call_command(
        "import_ibm_credentials",
        "--team",
        str(users["lab"].id),
        "--name",
        "other",
        "--file",
        str(path),
        "--account",
        "other",
    )
    assert IBMCredential.objects.get(name="other").instance == "crn:other"
    with pytest.raises(CommandError, match="no account 'nope'"):
        call_command(
            "import_ibm_credentials",
            "--team",
            str(users["lab"].id),
            "--name",
            "x",
            "--file",
            str(path),
            "--account",
            "nope",
        )
    with pytest.raises(CommandError, match="no team with id"):
        call_command("import_ibm_credentials", "--team", "99999", "--name", "x", "--file", str(path))
    with pytest.raises(CommandError, match="no account file"):
        call_command(
            "import_ibm_credentials",
            "--team",
            str(users["lab"].id),
            "--name",
            "x",
            "--file",
            str(tmp_path / "missing.json"),
        )


# -- the page ----------------------------------------------------------------------------------
def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_page_lists_masked_and_adds_with_a_write_only_field(users):
    alice = logged_in(users["alice"])
    page = alice.get("/credentials/")
    assert page.status_code == 200 and b'type="password"' in page.content and b"No credentials" in page.content

    form = {
        "team": users["lab"].id,
        "name": "lab-key",
        "channel": "ibm_quantum_platform",
        "token": TOKEN,
        "instance": "crn:x",
        "url": "",
    }
    resp = alice.post("/credentials/", form)
    assert resp.status_code == 302
    page = alice.get("/credentials/")
    assert b"lab-key" in page.content and b"****wxyz" in page.content and b"unchecked" in page.content
    no_token(page.content)

    again = alice.post("/credentials/", form)  # duplicate name: the form comes back without the token
    assert again.status_code == 400 and b"already has a credential named" in again.content
    no_token(again.content)

    cred = IBMCredential.objects.get(name="lab-key")
    IBMCredential.objects.filter(id=cred.id).update(
        status="invalid", status_reason="IBM Quantum refused the credential (HTTP 401)"
    )
    page = alice.get("/credentials/")
    assert b"HTTP 401" in page.content and b'data-status="invalid"' in page.content

    new_token = "fresh-token-9876543210-lmno"
    assert alice.post(f"/credentials/{cred.id}/token/", {"token": new_token}).status_code == 302
    cred.refresh_from_db()
    assert cred.token_last4 == "lmno" and cred.status == "unchecked" and cred.decrypt_token() == new_token
    no_token(alice.get("/credentials/").content, token=new_token)

    assert alice.post(f"/credentials/{cred.id}/delete/").status_code == 302
    assert not IBMCredential.objects.exists()


def test_page_access(users, api_for):
    cred = create(api_for("alice"), users["lab"])
    viola = logged_in(users["viola"])
    page = viola.get("/credentials/")
    assert b"****wxyz" in page.content and b"read-only" in page.content and b"token/" not in page.content
    assert viola.post(f"/credentials/{cred['id']}/token/", {"token": TOKEN}).status_code == 403
    assert viola.post(f"/credentials/{cred['id']}/delete/").status_code == 403
    charlie = logged_in(users["charlie"])
    assert b"****wxyz" not in charlie.get("/credentials/").content
    for action in ("token", "check", "delete"):
        assert charlie.post(f"/credentials/{cred['id']}/{action}/", {"token": TOKEN}).status_code == 404
    assert Client().get("/credentials/").status_code == 302  # to the login page
    assert IBMCredential.objects.get().token_last4 == "wxyz"
