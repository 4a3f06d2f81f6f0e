"""cloudchat_local._moto_server (+ _moto_serve, _moto_state): moto as a child process whose AWS state survives restarts."""

from __future__ import annotations

import datetime as dt
import os
import select
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cloudchat_local._moto_server import MotoProcess
from cloudchat_local._moto_state import load_state, save_state
from cloudchat_local.errors import PortInUse
from cloudchat_local.moto import trim_stream_records

REGION = "us-east-1"
PASSWORD = "Passw0rd!Passw0rd"


def client(endpoint: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def fill(endpoint: str) -> dict[str, Any]:
    """Puts a little of everything the local stack uses into moto; returns what to check."""
    ddb = client(endpoint, "dynamodb")
    ddb.create_table(
        TableName="t", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    ddb.put_item(TableName="t", Item={"PK": {"S": "k"}, "v": {"B": b"\x00bytes"}})
    kms = client(endpoint, "kms")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext={"c": "1"})
    signing_key = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    signature = kms.sign(KeyId=signing_key, Message=b"hello", SigningAlgorithm="RSASSA_PSS_SHA_256")
    idp = client(endpoint, "cognito-idp")
    pool = idp.create_user_pool(PoolName="p")["UserPool"]["Id"]
    app = idp.create_user_pool_client(UserPoolId=pool, ClientName="c",
                                      ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"])
    client_id = app["UserPoolClient"]["ClientId"]
    idp.admin_create_user(UserPoolId=pool, Username="u", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool, Username="u", Password=PASSWORD, Permanent=True)
    client(endpoint, "secretsmanager").create_secret(Name="s", SecretString="shh")
    return {
        "key_id": key_id, "blob": data_key["CiphertextBlob"], "plain": data_key["Plaintext"],
        "signing_key": signing_key, "signature": signature["Signature"],
        "pool": pool, "client_id": client_id,
    }


def check(endpoint: str, saved: dict[str, Any]) -> None:
    ddb = client(endpoint, "dynamodb")
    item = ddb.get_item(TableName="t", Key={"PK": {"S": "k"}})["Item"]
    assert item["v"] == {"B": b"\x00bytes"}
    kms = client(endpoint, "kms")
    plain = kms.decrypt(CiphertextBlob=saved["blob"], EncryptionContext={"c": "1"})["Plaintext"]
    assert plain == saved["plain"]
    assert kms.verify(KeyId=saved["signing_key"], Message=b"hello", Signature=saved["signature"],
                      SigningAlgorithm="RSASSA_PSS_SHA_256")["SignatureValid"]
    idp = client(endpoint, "cognito-idp")
    auth = idp.initiate_auth(ClientId=saved["client_id"], AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": "u", "PASSWORD": PASSWORD})
    assert auth["AuthenticationResult"]["AccessToken"]
    assert client(endpoint, "secretsmanager").get_secret_value(SecretId="s")["SecretString"] == "shh"
    streams = client(endpoint, "dynamodbstreams")
    arn = ddb.describe_table(TableName="t")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator)["Records"]
    assert [r["eventName"] for r in records] == ["INSERT"]


def test_state_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "moto-state.pickle"
    first = MotoProcess.start(state_file=state, log_path=tmp_path / "moto.log")
    try:
        saved = fill(first.endpoint)
    finally:
        assert first.stop() == 0
    assert state.is_file()
    second = MotoProcess.start(state_file=state)
    try:
        check(second.endpoint, saved)
        assert second.notes == ()
    finally:
        second.stop()


def _wait_for_exit(pid: int, timeout: float) -> bool:
    fd = os.pidfd_open(pid)
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)


def test_moto_saves_and_exits_when_its_parent_is_killed(tmp_path: Path) -> None:
    state = tmp_path / "moto-state.pickle"
    parent_code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from cloudchat_local._moto_server import MotoProcess
        moto = MotoProcess.start(state_file=Path({str(state)!r}))
        print(moto.process.pid, moto.endpoint, flush=True)
        sys.stdin.read()
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid_text, endpoint = parent.stdout.readline().split()
        saved = fill(endpoint)
        parent.kill()  # SIGKILL: no cleanup in the parent at all
        parent.wait(timeout=10)
        assert _wait_for_exit(int(pid_text), timeout=30), "moto outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
    again = MotoProcess.start(state_file=state)
    try:
        check(again.endpoint, saved)
    finally:
        again.stop()


def test_snapshot_on_request(tmp_path: Path) -> None:
    state = tmp_path / "moto-state.pickle"
    moto = MotoProcess.start(state_file=state, autosave_interval=0)
    try:
        client(moto.endpoint, "secretsmanager").create_secret(Name="s", SecretString="v1")
        moto.snapshot()
        copy = tmp_path / "copy.pickle"
        copy.write_bytes(state.read_bytes())
    finally:
        moto.stop()
    other = MotoProcess.start(state_file=copy)
    try:
        assert client(other.endpoint, "secretsmanager").get_secret_value(SecretId="s")["SecretString"] == "v1"
    finally:
        other.stop()


def test_an_unreadable_state_file_is_kept_aside(tmp_path: Path) -> None:
    state = tmp_path / "moto-state.pickle"
    state.write_bytes(b"this is not a pickle")
    moto = MotoProcess.start(state_file=state)
    try:
        assert client(moto.endpoint, "dynamodb").list_tables()["TableNames"] == []
        assert any("could not restore" in note for note in moto.notes)
    finally:
        moto.stop()
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("moto-state.pickle.unreadable-")]
    assert len(aside) == 1 and aside[0].read_bytes() == b"this is not a pickle"


def test_a_busy_port_is_reported() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(PortInUse, match=f"port {port} on 127.0.0.1 \\(moto\\) is already in use") as caught:
            MotoProcess.start(port=port)
    assert caught.value.port == port


def test_stream_records_older_than_a_day_are_trimmed(tmp_path: Path) -> None:
    from moto.dynamodb.models import dynamodb_backends

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(
            TableName="t", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        )
        for k in ("old", "new"):
            ddb.put_item(TableName="t", Item={"PK": {"S": k}})
        shard = dynamodb_backends["123456789012"][REGION].tables["t"].stream_shard
        assert shard is not None
        shard.items[0].record["dynamodb"]["ApproximateCreationDateTime"] -= dt.timedelta(days=2)
        start = shard.starting_sequence_number
        new_seq = shard.items[1].record["dynamodb"]["SequenceNumber"]
        assert trim_stream_records(dt.timedelta(hours=24)) == 1
        assert shard.starting_sequence_number == start + 1
        assert shard.get(int(new_seq), 10)[0]["dynamodb"]["Keys"] == {"PK": {"S": "new"}}
        ddb.put_item(TableName="t", Item={"PK": {"S": "later"}})
        assert int(shard.items[-1].record["dynamodb"]["SequenceNumber"]) == int(new_seq) + 1

        # And the in-process snapshot round trip, for good measure.
        save_state(tmp_path / "s.pickle")
        ddb.delete_table(TableName="t")
        assert load_state(tmp_path / "s.pickle")
        assert ddb.describe_table(TableName="t")["Table"]["TableName"] == "t"


def _stream_writes(ddb: Any) -> None:
    ddb.create_table(
        TableName="s", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    item = {"PK": {"S": "k"}, "b": {"B": b"\x00\xffraw"}, "n": {"N": "12.5"}, "ok": {"BOOL": True},
            "l": {"L": [{"B": b"\x01"}, {"M": {"s": {"S": "x"}, "z": {"NULL": True}}}]},
            "ss": {"SS": ["a", "b"]}, "bs": {"BS": [b"\x02", b"\x03"]}}
    ddb.put_item(TableName="s", Item=item)
    ddb.update_item(TableName="s", Key={"PK": {"S": "k"}}, UpdateExpression="SET n = :n",
                    ExpressionAttributeValues={":n": {"N": "13"}})
    ddb.delete_item(TableName="s", Key={"PK": {"S": "k"}})


def _stream_records(endpoint: str | None) -> list[dict[str, Any]]:
    kw = {"endpoint_url": endpoint} if endpoint else {}
    ddb = boto3.client("dynamodb", region_name=REGION, aws_access_key_id="testing",
                       aws_secret_access_key="testing", **kw)
    streams = boto3.client("dynamodbstreams", region_name=REGION, aws_access_key_id="testing",
                           aws_secret_access_key="testing", **kw)
    _stream_writes(ddb)
    arn = ddb.describe_table(TableName="s")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    out = streams.get_records(ShardIterator=iterator, Limit=100)
    assert streams.get_records(ShardIterator=out["NextShardIterator"])["Records"] == []
    return out["Records"]


def test_get_records_answers_what_moto_does_only_faster(tmp_path: Path) -> None:
    """The moto server answers GetRecords with DynamoDB JSON dumped directly
    (cloudchat_local.moto._responses.fast_stream_records); botocore must read the same records as from moto's
    own generic serializer (in-process moto here): bytes, numbers, sets, nesting, dates."""
    server = MotoProcess.start(state_file=tmp_path / "state.pickle")
    try:
        fast = _stream_records(server.endpoint)
    finally:
        server.stop()
    with mock_aws():
        generic = _stream_records(None)

    def comparable(records: list[dict[str, Any]]) -> list[Any]:
        out = []
        for r in records:
            d = dict(r["dynamodb"])
            assert isinstance(d.pop("ApproximateCreationDateTime"), dt.datetime)
            d.pop("SequenceNumber")
            d.pop("SizeBytes")  # moto's estimate counts the timestamp's digits
            out.append((r["eventName"], d))
        return out

    assert [r["eventName"] for r in fast] == ["INSERT", "MODIFY", "REMOVE"]
    assert comparable(fast) == comparable(generic)
    assert fast[0]["dynamodb"]["NewImage"]["b"] == {"B": b"\x00\xffraw"}


def test_autosave_backs_off_when_snapshots_get_slow() -> None:
    """A snapshot holds requests back: after a slow one the next waits 20 times as long, so
    autosaving a large state cannot take more than ~5 % of the server's time."""
    from cloudchat_local._moto_serve import autosave_pause

    assert autosave_pause(5.0, 0.01) == 5.0
    assert autosave_pause(5.0, 1.3) == pytest.approx(26.0)
    assert autosave_pause(0.5, 0.1) == pytest.approx(2.0)


def _item_operations(endpoint: str | None) -> list[Any]:
    """A battery of item operations; what botocore parses from each answer."""
    kw = {"endpoint_url": endpoint} if endpoint else {}
    ddb = boto3.client("dynamodb", region_name=REGION, aws_access_key_id="testing",
                       aws_secret_access_key="testing", **kw)
    ddb.create_table(
        TableName="i", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK")],
    )
    item = {"PK": {"S": "p"}, "SK": {"S": "a"}, "b": {"B": b"\x00\xffraw"}, "n": {"N": "12.5"},
            "l": {"L": [{"B": b"\x01"}, {"M": {"s": {"S": "x"}, "z": {"NULL": True}}}]},
            "ss": {"SS": ["a", "b"]}, "bs": {"BS": [b"\x02"]}, "ok": {"BOOL": False}}
    key = {"PK": {"S": "p"}, "SK": {"S": "a"}}
    out: list[Any] = []

    def keep(resp: dict[str, Any]) -> None:
        out.append({k: v for k, v in resp.items() if k != "ResponseMetadata"})

    keep(ddb.put_item(TableName="i", Item=item, ReturnValues="ALL_OLD"))
    keep(ddb.put_item(TableName="i", Item={**item, "SK": {"S": "b"}}, ReturnValues="ALL_OLD"))
    keep(ddb.get_item(TableName="i", Key=key, ConsistentRead=True))
    keep(ddb.get_item(TableName="i", Key={"PK": {"S": "p"}, "SK": {"S": "zz"}}))
    keep(ddb.get_item(TableName="i", Key=key, ProjectionExpression="n, l"))
    keep(ddb.update_item(TableName="i", Key=key, UpdateExpression="SET n = n + :o ADD ss :s",
                         ExpressionAttributeValues={":o": {"N": "1"}, ":s": {"SS": ["c"]}},
                         ReturnValues="ALL_NEW"))
    keep(ddb.update_item(TableName="i", Key=key, UpdateExpression="REMOVE ok", ReturnValues="NONE"))
    keep(ddb.query(TableName="i", KeyConditionExpression="PK = :p",
                   ExpressionAttributeValues={":p": {"S": "p"}}, Limit=1))
    keep(ddb.query(TableName="i", KeyConditionExpression="PK = :p", Select="COUNT",
                   ExpressionAttributeValues={":p": {"S": "p"}}))
    keep(ddb.batch_get_item(RequestItems={"i": {"Keys": [key, {"PK": {"S": "p"}, "SK": {"S": "b"}}],
                                                "ConsistentRead": True}}))
    keep(ddb.transact_get_items(TransactItems=[{"Get": {"TableName": "i", "Key": key}}]))
    keep(ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": "i", "Item": {**item, "SK": {"S": "c"}}}},
        {"ConditionCheck": {"TableName": "i", "Key": key, "ConditionExpression": "attribute_exists(PK)"}}]))
    try:
        ddb.transact_write_items(TransactItems=[
            {"ConditionCheck": {"TableName": "i", "Key": key, "ConditionExpression": "attribute_not_exists(PK)",
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}])
    except ddb.exceptions.TransactionCanceledException as exc:
        out.append({k: v for k, v in exc.response.items() if k != "ResponseMetadata"})
    try:
        ddb.put_item(TableName="i", Item=item, ConditionExpression="attribute_not_exists(PK)")
    except ddb.exceptions.ConditionalCheckFailedException as exc:
        out.append(exc.response["Error"]["Code"])
    keep(ddb.batch_write_item(RequestItems={"i": [{"DeleteRequest": {"Key": key}}]}))
    keep(ddb.delete_item(TableName="i", Key={"PK": {"S": "p"}, "SK": {"S": "b"}}, ReturnValues="ALL_OLD"))
    return out


def test_item_answers_match_moto_only_faster(tmp_path: Path) -> None:
    """The moto server dumps DynamoDB item answers as DynamoDB JSON directly
    (cloudchat_local.moto._responses.fast_dynamodb_responses); botocore must read what moto's own serializer
    gives (in-process moto here), error answers included."""
    server = MotoProcess.start(state_file=tmp_path / "state.pickle")
    try:
        fast = _item_operations(server.endpoint)
    finally:
        server.stop()
    with mock_aws():
        generic = _item_operations(None)
    assert fast == generic
    assert fast[2]["Item"]["b"] == {"B": b"\x00\xffraw"} and "Item" not in fast[3]


def _auth(service: str) -> dict[str, str]:
    return {"Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20240101/{REGION}/{service}/aws4_request, "
                             "SignedHeaders=host, Signature=x"}


def test_moto_keeps_connections_alive(tmp_path: Path) -> None:
    """The server answers HTTP/1.1 with keep-alive: one connection carries AWS calls, moto's
    error answers, control requests, a chunked upload and a HEAD; every answer is framed (a
    Content-Length), and ``Connection: close`` is honoured."""
    import http.client

    server = MotoProcess.start(state_file=tmp_path / "state.pickle", autosave_interval=0)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        ddb = {**_auth("dynamodb"), "Content-Type": "application/x-amz-json-1.0"}
        answers: list[tuple[int, bytes]] = []

        def call(method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                 **kw: Any) -> bytes:
            conn.request(method, path, body=body, headers=headers or {}, **kw)
            resp = conn.getresponse()
            data = resp.read()
            assert resp.version == 11 and not resp.will_close, (method, path, resp.getheaders())
            if method != "HEAD":
                assert resp.getheader("Content-Length") == str(len(data)), (method, path)
            answers.append((resp.status, data))
            return data

        call("POST", "/", b"{}", {**ddb, "X-Amz-Target": "DynamoDB_20120810.ListTables"})
        sock = conn.sock
        call("POST", "/", b'{"TableName": "missing"}', {**ddb, "X-Amz-Target": "DynamoDB_20120810.DescribeTable"})
        call("POST", "/_cloudchat/snapshot", b"")
        call("POST", "/_cloudchat/nothing", b"")
        call("PUT", "/bucket", b"", _auth("s3"))
        call("PUT", "/bucket/key", (part for part in (b"chunked ", b"body")), _auth("s3"),
             encode_chunked=True)
        call("HEAD", "/bucket/key", None, _auth("s3"))
        assert call("GET", "/bucket/key", None, _auth("s3")) == b"chunked body"
        call("POST", "/", b"{}", {**ddb, "X-Amz-Target": "DynamoDB_20120810.ListTables"})
        assert conn.sock is sock, "the connection was not kept alive"
        assert [status for status, _ in answers] == [200, 400, 200, 404, 200, 200, 200, 200, 200]
        assert b"ResourceNotFoundException" in answers[1][1]

        conn.request("POST", "/", body=b"{}", headers={**ddb, "Connection": "close",
                                                        "X-Amz-Target": "DynamoDB_20120810.ListTables"})
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Connection") == "close"
        resp.read()
        conn.close()
    finally:
        assert server.stop() == 0


def _serve_in_thread(app: Any, timeout: float) -> Any:
    import threading

    from werkzeug.serving import make_server

    from cloudchat_local.moto import keep_alive_handler as _keep_alive_handler

    handler = type("Handler", (_keep_alive_handler(),), {"timeout": timeout})
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_idle_connections_are_closed_and_failures_answered() -> None:
    """An idle keep-alive connection is closed after the idle timeout (its thread ends); an
    application error is answered 500 with a Content-Length and the connection closed."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/boom":
            raise RuntimeError("boom")
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"echo:", body]

    server = _serve_in_thread(app, timeout=0.3)
    try:
        with socket.create_connection(server.server_address, timeout=5) as sock:
            sock.sendall(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                         b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nde")
            reader = sock.makefile("rb")
            for expected in (b"echo:abc", b"echo:de"):
                assert reader.readline().startswith(b"HTTP/1.1 200")
                headers = {}
                while (line := reader.readline()) != b"\r\n":
                    key, _, value = line.decode().partition(":")
                    headers[key.lower()] = value.strip()
                assert "connection" not in headers
                assert reader.read(int(headers["content-length"])) == expected
            sock.settimeout(5)
            assert reader.read(1) == b""  # closed by the server once idle for 0.3 s
        with socket.create_connection(server.server_address, timeout=5) as sock:
            sock.sendall(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 500")
            assert b"Connection: close" in head and f"Content-Length: {len(body)}".encode() in head
    finally:
        server.shutdown()
        server.server_close()
