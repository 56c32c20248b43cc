"""Where the API may listen: policy first, a private socket by default, TLS off loopback."""

from __future__ import annotations

import dataclasses
import os
import ssl
import stat
from pathlib import Path

import httpx2
import openai
import pytest

from app.core.api import ApiConfigError, ApiRefused, ApiServer, Binding, plan_binding
from app.core.context import open_app
from app.core.policy import load_policy
from tests.integration.api.conftest import API_ON, MODEL, RunningApi
from tests.integration.connector.servers import make_pki
from tests.policies import policy_root

pytestmark = [pytest.mark.keyring]


@pytest.mark.parametrize("managed", [None, {"api": {"enabled": False}}, "{ not json"])
def test_the_api_is_off_unless_policy_turns_it_on(tmp_path: Path, managed) -> None:
    policy = load_policy(policy_root(tmp_path, managed) if managed else policy_root(tmp_path))
    with pytest.raises(ApiRefused) as refused:
        plan_binding(policy, port=0)
    assert "api.enabled" in refused.value.hint or "could not be read" in refused.value.message


def test_the_api_is_off_even_for_a_session_built_without_asking(api_paths) -> None:
    ctx = open_app(api_paths({"connector": {"enabled": False}}))
    try:
        with pytest.raises(ApiRefused):
            ApiServer(ctx, Binding(host="127.0.0.1"))
    finally:
        ctx.close()


def test_only_managed_policy_opens_an_address_beyond_loopback(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    open_to = {"enabled": True, "remote_bind_addresses": ["10.1.2.3"],
               "tls_cert": str(pki.cert_file), "tls_key": str(pki.key_file)}
    for name, managed, recommended in (
        ("loopback-only", API_ON, None),
        ("recommended", API_ON, {"api": open_to}),
        ("no-certificate", {"api": {"enabled": True, "remote_bind_addresses": ["10.1.2.3"]}},
         None),
    ):
        policy = load_policy(policy_root(tmp_path, managed, recommended, name=name))
        with pytest.raises(ApiRefused):
            plan_binding(policy, host="10.1.2.3")
        assert plan_binding(policy, port=0).host == "127.0.0.1"
    policy = load_policy(policy_root(tmp_path, {"api": open_to}, name="managed"))
    with pytest.raises(ApiRefused):
        plan_binding(policy, host="10.9.9.9")  # not the listed one
    binding = plan_binding(policy, host="10.1.2.3")
    assert (binding.host, binding.port, binding.tls) == ("10.1.2.3", 8443, True)
    assert {"10.1.2.3", "127.0.0.1"} <= binding.allowed_hosts  # and the certificate's names


@pytest.mark.model
def test_off_loopback_it_speaks_only_tls_with_the_site_certificate(tmp_path, start_api) -> None:
    pki = make_pki(tmp_path)
    managed = {"api": {"enabled": True, "remote_bind_addresses": ["10.1.2.3"],
                       "tls_cert": str(pki.cert_file), "tls_key": str(pki.key_file)}}
    policy = load_policy(policy_root(tmp_path, managed, name="tls"))
    # The binding policy made for 10.1.2.3, served on 127.0.0.1: tests stay on loopback.
    binding = dataclasses.replace(plan_binding(policy, host="10.1.2.3"), host="127.0.0.1",
                                  port=0)
    api: RunningApi = start_api(managed=managed, binding=binding)
    assert api.base_url.startswith("https://127.0.0.1:")
    trust = ssl.create_default_context(cafile=str(pki.ca_file))
    with httpx2.Client(verify=trust) as http:
        client = openai.OpenAI(base_url=api.base_url, api_key=api.tokens["main"],
                               max_retries=0, timeout=60, http_client=http)
        assert [m.id for m in client.models.list()][0] == MODEL
    plain = openai.OpenAI(base_url=api.base_url.replace("https", "http"),
                          api_key=api.tokens["main"], max_retries=0, timeout=10)
    with pytest.raises(openai.APIConnectionError):
        plain.models.list()


@pytest.mark.model
def test_the_default_is_a_socket_only_this_user_can_open(tmp_path, monkeypatch,
                                                         start_api) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    policy = load_policy(policy_root(tmp_path, API_ON, name="sock"))
    binding = plan_binding(policy)
    assert binding.socket_path == runtime / "enclave" / "api.sock"
    api: RunningApi = start_api(binding=binding)
    sock = binding.socket_path
    assert api.base_url == f"unix:{sock}"
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
    with httpx2.Client(transport=httpx2.HTTPTransport(uds=str(sock))) as http:
        client = openai.OpenAI(base_url="http://localhost/v1", api_key=api.tokens["main"],
                               max_retries=0, timeout=60, http_client=http)
        answer = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=3)
        assert answer.choices[0].message.content is not None
    second = ApiServer(api.ctx, binding)
    with pytest.raises(ApiConfigError, match="already listens"):
        second.start()
    second.stop()
    api.server.stop()
    assert not sock.exists()


def test_a_socket_in_a_folder_others_can_open_is_refused(tmp_path: Path) -> None:
    from app.core.api.binding import open_listener

    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o755)
    with pytest.raises(ApiConfigError, match="not private"):
        open_listener(Binding(socket_path=shared / "api.sock"))
