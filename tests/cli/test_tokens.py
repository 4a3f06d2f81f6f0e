"""The token store (0600 file per endpoint) and refresh near expiry, with a fake Cognito."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from cloudchat_cli.errors import AuthError, CliError, ConfigError, NotLoggedIn
from cloudchat_client import Authenticator, TokenStore
from cloudchat_client._config import Endpoint, endpoint_from_outputs, outputs_from_cloudformation


def jwt(**claims: Any) -> str:
    def part(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}.sig"


class FakeCognito:
    def __init__(self, now: float) -> None:
        self.now = now
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.refresh_ok = True

    def initiate_auth(self, ClientId: str, AuthFlow: str, AuthParameters: dict[str, str]) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        self.calls.append((AuthFlow, AuthParameters))
        if AuthFlow == "USER_PASSWORD_AUTH" and AuthParameters["PASSWORD"] != "right":
            raise ClientError({"Error": {"Code": "NotAuthorizedException",
                                         "Message": "Incorrect username or password."}}, "InitiateAuth")
        if AuthFlow == "REFRESH_TOKEN_AUTH" and not self.refresh_ok:
            raise ClientError({"Error": {"Code": "NotAuthorizedException",
                                         "Message": "Refresh Token has expired"}}, "InitiateAuth")
        n = len(self.calls)
        result = {"IdToken": jwt(sub="u1", exp=self.now + 3600, n=n, **{"cognito:groups": ["admin"]}),
                  "AccessToken": f"access-{n}", "ExpiresIn": 3600}
        if AuthFlow == "USER_PASSWORD_AUTH":
            result["RefreshToken"] = "refresh-1"
        return {"AuthenticationResult": result}


ENDPOINT = Endpoint(graphql_url="http://127.0.0.1:1/graphql", realtime_url="ws://127.0.0.1:1/graphql/realtime",
                    user_pool_id="us-east-1_x", client_id="client", region="us-east-1",
                    demo_users=({"name": "alice", "username": "alice@example.com"},))


@pytest.fixture
def clock() -> list[float]:
    return [1_000_000.0]


def make(tmp_path: Path, clock: list[float]) -> tuple[Authenticator, FakeCognito]:
    fake = FakeCognito(clock[0])
    auth = Authenticator(ENDPOINT, TokenStore(tmp_path / "home"), lambda: fake, clock=lambda: clock[0])
    return auth, fake


def test_login_stores_tokens_in_a_0600_file(tmp_path: Path, clock: list[float]) -> None:
    auth, fake = make(tmp_path, clock)
    session = auth.login("alice", "right")
    assert fake.calls[0][1]["USERNAME"] == "alice@example.com"  # demo short name
    assert (session.sub, session.groups, session.refresh_token) == ("u1", ("admin",), "refresh-1")
    path = tmp_path / "home" / "tokens.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert json.loads(path.read_text())[ENDPOINT.key]["refresh_token"] == "refresh-1"


def test_the_file_stays_0600_when_rewritten(tmp_path: Path, clock: list[float]) -> None:
    auth, _ = make(tmp_path, clock)
    auth.login("alice", "right")
    os.chmod(tmp_path / "home" / "tokens.json", 0o644)
    auth.login("alice", "right")
    assert stat.S_IMODE(os.stat(tmp_path / "home" / "tokens.json").st_mode) == 0o600


def test_bad_credentials_are_an_auth_error_and_store_nothing(tmp_path: Path, clock: list[float]) -> None:
    auth, _ = make(tmp_path, clock)
    with pytest.raises(AuthError, match=r"bad credentials.*NotAuthorizedException"):
        auth.login("alice", "wrong")
    with pytest.raises(NotLoggedIn):
        auth.current()


def test_a_fresh_session_is_not_refreshed(tmp_path: Path, clock: list[float]) -> None:
    auth, fake = make(tmp_path, clock)
    first = auth.login("alice", "right")
    assert auth.current() == first
    assert [c[0] for c in fake.calls] == ["USER_PASSWORD_AUTH"]


def test_a_session_near_expiry_is_refreshed_and_stored(tmp_path: Path, clock: list[float]) -> None:
    auth, fake = make(tmp_path, clock)
    first = auth.login("alice", "right")
    clock[0] += 3600 - 60  # within the refresh margin
    fake.now = clock[0]
    fresh = auth.current()
    assert fake.calls[-1] == ("REFRESH_TOKEN_AUTH", {"REFRESH_TOKEN": "refresh-1"})
    assert fresh.id_token != first.id_token and fresh.expires_at > first.expires_at
    assert fresh.refresh_token == "refresh-1"  # Cognito returns no new one: keep it
    again = Authenticator(ENDPOINT, TokenStore(tmp_path / "home"), lambda: fake, clock=lambda: clock[0])
    assert again.current() == fresh  # persisted


def test_an_expired_refresh_token_means_log_in_again(tmp_path: Path, clock: list[float]) -> None:
    auth, fake = make(tmp_path, clock)
    auth.login("alice", "right")
    clock[0] += 7200
    fake.refresh_ok = False
    with pytest.raises(NotLoggedIn, match="login"):
        auth.current()


def test_logout_forgets_only_this_endpoint(tmp_path: Path, clock: list[float]) -> None:
    auth, _ = make(tmp_path, clock)
    auth.login("alice", "right")
    store = TokenStore(tmp_path / "home")
    store.put("other", auth.current())
    assert auth.logout() is True
    assert auth.logout() is False
    assert store.get("other") is not None


def test_cloudformation_outputs_map_to_an_endpoint() -> None:
    """describe_stacks' shape, faked: no AWS call."""
    stacks = [{"StackName": "cloudchat-dev", "Outputs": [
        {"OutputKey": "GraphQLApiUrl", "OutputValue": "https://abc.appsync-api.eu-west-1.amazonaws.com/graphql"},
        {"OutputKey": "GraphQLRealtimeUrl",
         "OutputValue": "wss://abc.appsync-realtime-api.eu-west-1.amazonaws.com/graphql"},
        {"OutputKey": "UserPoolId", "OutputValue": "eu-west-1_AbC"},
        {"OutputKey": "UserPoolClientId", "OutputValue": "client123"},
        {"OutputKey": "Region", "OutputValue": "eu-west-1"},
    ]}]
    endpoint = endpoint_from_outputs(outputs_from_cloudformation(stacks, "cloudchat-dev"))
    assert endpoint.host == "abc.appsync-api.eu-west-1.amazonaws.com"
    assert endpoint.realtime_url.startswith("wss://abc.appsync-realtime-api.")
    assert (endpoint.region, endpoint.client_id, endpoint.cognito_endpoint) == ("eu-west-1", "client123", None)
    assert not endpoint.is_local


def test_a_stack_without_a_realtime_output_gets_appsyncs_realtime_host() -> None:
    endpoint = endpoint_from_outputs({"GraphQLApiUrl": "https://x.appsync-api.us-east-2.amazonaws.com/graphql",
                                      "UserPoolClientId": "c", "UserPoolId": "us-east-2_q"})
    assert endpoint.realtime_url == "wss://x.appsync-realtime-api.us-east-2.amazonaws.com/graphql/realtime"
    assert endpoint.region == "us-east-2"


def test_describe_stacks_errors_and_missing_stacks_are_config_errors() -> None:
    from botocore.exceptions import ClientError

    from cloudchat_client import endpoint_from_stack

    class Fake:
        def describe_stacks(self, StackName: str) -> Any:
            raise ClientError({"Error": {"Code": "ValidationError",
                                         "Message": f"Stack with id {StackName} does not exist"}},
                              "DescribeStacks")

    with pytest.raises(ConfigError, match="does not exist"):
        endpoint_from_stack("nope", "us-east-1", cloudformation=lambda region: Fake())
    with pytest.raises(ConfigError, match="no CloudFormation stack"):
        outputs_from_cloudformation([], "nope")


def test_local_outputs_map_to_a_local_endpoint() -> None:
    endpoint = endpoint_from_outputs({
        "GraphQLApiUrl": "http://127.0.0.1:4000/graphql", "GraphQLRealtimeUrl": "ws://127.0.0.1:4000/graphql/realtime",
        "UserPoolId": "us-east-1_x", "UserPoolClientId": "c", "Region": "us-east-1",
        "CognitoEndpoint": "http://127.0.0.1:4010", "AwsEndpointUrl": "http://127.0.0.1:4010",
        "IamAccessKeyId": "a", "IamSecretAccessKey": "b",
    })
    assert endpoint.is_local and endpoint.aws_credentials == ("a", "b")


# --- issue 12, defect 16: the folder's mode is enforced, and a planted link gets nothing ---

def test_an_existing_folder_is_tightened_to_0700(tmp_path: Path, clock: list[float]) -> None:
    (tmp_path / "home").mkdir(mode=0o755)
    os.chmod(tmp_path / "home", 0o755)  # (mkdir's mode is masked by the umask)
    auth, _ = make(tmp_path, clock)
    auth.login("alice", "right")
    assert stat.S_IMODE(os.stat(tmp_path / "home").st_mode) == 0o700


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o722])
def test_a_folder_others_can_write_is_refused(tmp_path: Path, clock: list[float], mode: int) -> None:
    (tmp_path / "home").mkdir()
    os.chmod(tmp_path / "home", mode)
    auth, _ = make(tmp_path, clock)
    with pytest.raises(CliError, match="others can write"):
        auth.login("alice", "right")
    assert not (tmp_path / "home" / "tokens.json").exists()
    assert stat.S_IMODE(os.stat(tmp_path / "home").st_mode) == mode  # left for the user to check


def test_a_symlinked_folder_is_refused(tmp_path: Path, clock: list[float]) -> None:
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    (tmp_path / "home").symlink_to(tmp_path / "elsewhere")
    auth, _ = make(tmp_path, clock)
    with pytest.raises(CliError, match="not a plain directory"):
        auth.login("alice", "right")
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_a_planted_symlink_does_not_receive_the_tokens(tmp_path: Path, clock: list[float]) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    target = tmp_path / "attacker.txt"
    target.write_text("")
    # Links at every temporary name the store could predict (the old name was pid-based).
    (home / f".tokens.json.{os.getpid()}.tmp").symlink_to(target)
    auth, _ = make(tmp_path, clock)
    auth.login("alice", "right")
    assert target.read_text() == ""
    assert json.loads((home / "tokens.json").read_text())[ENDPOINT.key]["refresh_token"] == "refresh-1"


def test_the_temporary_file_is_opened_exclusively_without_following_links(
        tmp_path: Path, clock: list[float], monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[tuple[int, int]] = []
    real_open = os.open

    def spy(path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        if str(path).endswith(".tmp"):
            opened.append((flags, mode))
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(os, "open", spy)
    auth, _ = make(tmp_path, clock)
    auth.login("alice", "right")
    [(flags, mode)] = opened
    wanted = os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    assert flags & wanted == wanted and mode == 0o600
