"""The CloudChat command-line client, built on gql.

Modules: :mod:`~cloudchat_cli.config` (where the stack is), :mod:`~cloudchat_cli.tokens`
(Cognito sign-in and the token store), :mod:`~cloudchat_cli.client` (gql transports),
:mod:`~cloudchat_cli.sequence` and :mod:`~cloudchat_cli.follow` (ordered, deduplicated live
delivery), :mod:`~cloudchat_cli.commands` and :mod:`~cloudchat_cli.seed` (the commands),
:mod:`~cloudchat_cli.render` (tables and JSON), :mod:`~cloudchat_cli.errors` (the exception tree).
"""

__version__ = "0.1.0"
