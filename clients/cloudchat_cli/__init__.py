"""The CloudChat command-line client, on the :mod:`cloudchat_client` library (where the stack
is, Cognito sign-in and the token store, the gql transports, ordered and deduplicated live
delivery).

Every GraphQL document is a named operation of the library's ``operations.graphql``.

Modules: :mod:`~cloudchat_cli.commands` and :mod:`~cloudchat_cli.seed` (the commands),
:mod:`~cloudchat_cli.render` (tables and JSON), :mod:`~cloudchat_cli.errors` (the library's
exception tree and the exit code of each), ``verify*`` (the black-box check of a stack).
"""

__version__ = "0.1.0"
