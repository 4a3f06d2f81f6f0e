"""CloudFormation YAML: the short-form tags (``!Ref``, ``!GetAtt``, ``!Sub`` ...) become their
long-form dicts, and dates stay strings, as CloudFormation reads them (see
:mod:`cloudchat_local.template`)."""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["CfnYamlLoader", "load_yaml"]


class CfnYamlLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation's short-form tags and keeps dates as strings."""


# CloudFormation reads `2012-10-17` as a string; YAML 1.1 would make it a date.
CfnYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_SHORT_FORMS = {
    "Ref": "Ref",
    "Condition": "Condition",
    **{
        name: f"Fn::{name}"
        for name in (
            "And", "Base64", "Cidr", "Equals", "FindInMap", "GetAtt", "GetAZs", "If",
            "ImportValue", "Join", "Length", "Not", "Or", "Select", "Split", "Sub",
            "ToJsonString", "Transform",
        )
    },
}


def _make_constructor(long_name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if long_name == "Fn::GetAtt" and isinstance(value, str):
                logical_id, _, attribute = value.partition(".")
                value = [logical_id, attribute]
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            assert isinstance(node, yaml.MappingNode)
            value = loader.construct_mapping(node, deep=True)
        return {long_name: value}

    return construct


for _short, _long in _SHORT_FORMS.items():
    CfnYamlLoader.add_constructor(f"!{_short}", _make_constructor(_long))


def load_yaml(text: str) -> Any:
    """Parses CloudFormation YAML; short-form tags become long-form intrinsic dicts."""
    return yaml.load(text, Loader=CfnYamlLoader)  # noqa: S506 - SafeLoader subclass
