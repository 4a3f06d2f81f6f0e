"""Provisioning the data resources: KMS keys and aliases, Secrets Manager secrets, the
DynamoDB table (see :mod:`cloudchat_local.provision`)."""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cloudchat_local._provision_base import ProvisionerBase, api_kwargs
from cloudchat_local.errors import ProvisionError
from cloudchat_local.template import Resource

if TYPE_CHECKING:
    from types_boto3_dynamodb.type_defs import TableDescriptionTypeDef

__all__ = ["DataResources"]

STACK_TAG = "cloudchat:stack"
LOGICAL_ID_TAG = "cloudchat:logical-id"


class DataResources(ProvisionerBase):
    """KMS, Secrets Manager and DynamoDB."""

    # ------------------------------------------------------------------ KMS

    def kms_key(self, resource: Resource) -> None:
        kms = self.client("kms")
        key_id = self._find_tagged_key(resource.logical_id)
        if key_id is None:
            props = self.props(resource)
            kwargs = api_kwargs(kms, "CreateKey", props)
            if "KeyPolicy" in props:
                kwargs["Policy"] = json.dumps(props["KeyPolicy"])
            kwargs["Tags"] = [
                {"TagKey": STACK_TAG, "TagValue": self.stack_name},
                {"TagKey": LOGICAL_ID_TAG, "TagValue": resource.logical_id},
            ]
            key_id = str(kms.create_key(**kwargs)["KeyMetadata"]["KeyId"])
            if props.get("EnableKeyRotation") in (True, "true"):
                kms.enable_key_rotation(KeyId=key_id)
        metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
        self.resolve[resource.logical_id] = str(metadata["KeyId"])
        self.resolve[f"{resource.logical_id}.KeyId"] = str(metadata["KeyId"])
        self.resolve[f"{resource.logical_id}.Arn"] = str(metadata["Arn"])

    def _find_tagged_key(self, logical_id: str) -> str | None:
        kms = self.client("kms")
        for page in kms.get_paginator("list_keys").paginate():
            for key in page["Keys"]:
                try:
                    tags = kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]
                    state = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"]
                except ClientError:
                    continue
                found = {t["TagKey"]: t["TagValue"] for t in tags}
                if (
                    state == "Enabled"
                    and found.get(STACK_TAG) == self.stack_name
                    and found.get(LOGICAL_ID_TAG) == logical_id
                ):
                    return str(key["KeyId"])
        return None

    def kms_alias(self, resource: Resource) -> None:
        kms = self.client("kms")
        props = self.props(resource)
        name, target = str(props["AliasName"]), str(props["TargetKeyId"])
        target_id = kms.describe_key(KeyId=target)["KeyMetadata"]["KeyId"]
        existing = {
            a["AliasName"]: a.get("TargetKeyId")
            for page in kms.get_paginator("list_aliases").paginate()
            for a in page["Aliases"]
        }
        if name not in existing:
            kms.create_alias(AliasName=name, TargetKeyId=target_id)
        elif existing[name] != target_id:
            kms.update_alias(AliasName=name, TargetKeyId=target_id)
        self.resolve[resource.logical_id] = name

    # ------------------------------------------------------------------ Secrets Manager

    def secret(self, resource: Resource) -> None:
        sm = self.client("secretsmanager")
        name = self.physical_name(resource, "Name")
        try:
            arn = str(sm.describe_secret(SecretId=name)["ARN"])
            value = str(sm.get_secret_value(SecretId=name)["SecretString"])
        except sm.exceptions.ResourceNotFoundException:
            props = self.props(resource)
            value = props.get("SecretString") or _generate_secret(props.get("GenerateSecretString") or {})
            arn = str(
                sm.create_secret(
                    Name=name,
                    SecretString=value,
                    Description=str(props.get("Description", "")),
                )["ARN"]
            )
        self.resolve[resource.logical_id] = arn  # Ref on a secret is its ARN
        self.resolve[f"{resource.logical_id}.Id"] = arn
        self.resolve[f"{resource.logical_id}.SecretString"] = value

    # ------------------------------------------------------------------ DynamoDB

    def table(self, resource: Resource) -> None:
        ddb = self.client("dynamodb")
        name = self.physical_name(resource, "TableName")
        wanted = self.template.table_create_kwargs(name)
        try:
            table = ddb.describe_table(TableName=name)["Table"]
        except ddb.exceptions.ResourceNotFoundException:
            ddb.create_table(**wanted)
            ddb.get_waiter("table_exists").wait(
                TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
            )
            table = ddb.describe_table(TableName=name)["Table"]
        else:
            table = self._reconcile_table(table, wanted)
        ttl = self.template.ttl_attribute()
        if ttl:
            status = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            if status.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                ddb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl},
                )
        self.resolve[resource.logical_id] = name
        self.resolve[f"{resource.logical_id}.Arn"] = str(table["TableArn"])
        if table.get("LatestStreamArn"):
            self.resolve[f"{resource.logical_id}.StreamArn"] = str(table["LatestStreamArn"])

    def _reconcile_table(self, table: TableDescriptionTypeDef,
                         wanted: dict[str, Any]) -> TableDescriptionTypeDef:
        """An existing table must have the template's keys; GSIs added since are created."""
        name = wanted["TableName"]
        if table["KeySchema"] != wanted["KeySchema"]:
            raise ProvisionError(
                f"table {name} exists with key schema {table['KeySchema']}, template.yaml "
                f"says {wanted['KeySchema']}: delete the local state to rebuild it"
            )
        ddb = self.client("dynamodb")
        present = {i["IndexName"] for i in table.get("GlobalSecondaryIndexes") or []}
        missing = [i for i in wanted.get("GlobalSecondaryIndexes", []) if i["IndexName"] not in present]
        for index in missing:
            ddb.update_table(
                TableName=name,
                AttributeDefinitions=wanted["AttributeDefinitions"],
                GlobalSecondaryIndexUpdates=[{"Create": index}],
            )
        if missing:
            table = ddb.describe_table(TableName=name)["Table"]
        return table


def _generate_secret(spec: Mapping[str, Any]) -> str:
    """A value per ``GenerateSecretString`` (length, exclusions), from :mod:`secrets`."""
    length = int(spec.get("PasswordLength", 32))
    alphabet = ""
    if not spec.get("ExcludeLowercase"):
        alphabet += string.ascii_lowercase
    if not spec.get("ExcludeUppercase"):
        alphabet += string.ascii_uppercase
    if not spec.get("ExcludeNumbers"):
        alphabet += string.digits
    if not spec.get("ExcludePunctuation"):
        alphabet += "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    if spec.get("IncludeSpace"):
        alphabet += " "
    excluded = set(str(spec.get("ExcludeCharacters", "")))
    alphabet = "".join(c for c in alphabet if c not in excluded)
    if not alphabet:
        raise ProvisionError("GenerateSecretString excludes every character")
    value = "".join(secrets.choice(alphabet) for _ in range(length))
    template = spec.get("SecretStringTemplate")
    key = spec.get("GenerateStringKey")
    if template and key:
        document = json.loads(str(template))
        document[str(key)] = value
        return json.dumps(document)
    return value
