"""What vulture (``make deadcode``, tests/deadcode.py) reports as unused, but is used.

Vulture matches by name: a name written here counts as used wherever it is defined. So each
entry is a name that something outside our code reads or calls (a framework, the Lambda runtime,
a library's users), with that reason. This module is read by vulture, never imported or run.
tests/template/test_deadcode.py checks that every name here is still defined in the packages.
Remove an entry when its code goes; add one only with its reason.
"""
# ruff: noqa: B018
from types import SimpleNamespace

_ = SimpleNamespace()  # vulture's convention: ``_.name`` marks the attribute or method ``name``

# --- the Lambda runtime's context object (local/cloudchat_local/_function_worker.py,
# emulator/_events.py): attributes of the documented contract that handlers may read
_.function_version
_.log_group_name
_.log_stream_name
_.client_context

# --- signatures fixed by their caller
_.signum  # signal handlers: handler(signum, frame) (local/cloudchat_local/_runtime.py, dev.py)
_.exc_type  # __aexit__(exc_type, exc, tb) (cloudchat_client's async context managers)
_.tb

# --- http.server / socketserver hooks (bench/publish.py, bench/realtime/_echo_server.py)
_.daemon_threads  # ThreadingMixIn: request threads do not block exit
_.disable_nagle_algorithm  # StreamRequestHandler: TCP_NODELAY on each connection
_.do_GET  # BaseHTTPRequestHandler dispatches do_<METHOD>
_.do_POST
_.log_message  # BaseHTTPRequestHandler's access log (silenced)

# --- werkzeug and uvicorn hooks
_.run_wsgi  # werkzeug's WSGIRequestHandler: the keep-alive handler's override (moto/_keep_alive.py)
_.capture_signals  # uvicorn.Server: the embedded emulator leaves signals alone (emulator/_server.py)
_.should_exit  # uvicorn.Server: set to stop it (emulator/_server.py)
_.force_exit

# --- graphql-core hooks
_.enter  # Visitor: called on entering each node (emulator/_messages.py)
_.enter_fragment_spread  # Visitor: enter_<kind> (cloudchat_client/_documents.py)
_.coerce_input_literal  # GraphQLScalarType: AppSync's scalar rules (emulator/_scalars.py)
_.parse_value  # GraphQLScalarType: the legacy names graphql-core may still call
_.parse_literal

# --- moto and pickle, called by name from their code
_.all_items  # moto's Table.query calls self.all_items(): shadowed per call (moto/_queries.py)
_.reducer_override  # pickle.Pickler: the moto state snapshot's reducer (moto/_state.py)

# --- the emulator's documented in-process wiring (cloudchat_local/emulator/__init__.py)
_.from_module  # LambdaResolver.from_module("resolvers.messages")

# --- cloudchat_client's public API: the library's users call it (README, its docstring)
_.from_stack  # CloudChat.from_stack(name): a deployed stack's outputs
_.rename_conversation  # the typed method of each mutation (_operations.py)
_.mute_conversation
_.send_message_once
_.add_reaction
_.remove_reaction
_.leave_conversation
_.publish_user_event
_.mark_read
_.mark_delivered
_.access_token  # Session: Cognito's access token (GlobalSignOut, ChangePassword); in tokens.json
# types.py: the keys of the API's answers (schema.graphql's fields), TypedDicts read by callers
_.reactedByMe, _.senderId, _.createdAt, _.clientMessageId, _.parentId, _.replyCount
_.lastReplyAt, _.replyUserIds, _.editedAt, _.deletedAt, _.deletedBy, _.createdBy, _.memberCount
_.lastSeq, _.unreadCount, _.mutedUntil, _.updatedAt, _.lastMessage, _.actorId, _.online
_.lastSeen, _.readSeq, _.deliveredSeq, _.expiresAt, _.reporterId, _.uploadId, _.maxBytes
_.registered
_.unreadMentionCount  # (issue 14 mentions: Conversation and UserEvent)
_.joinedAt, _.peerId, _.myRole  # (issue 15 large groups: Member and Conversation)
_.senderBlocked, _.blockedAt, _.wasBlocked  # (blocking: Message, BlockedUser, Unblocked)
_.emailAddress, _.emailAvailable, _.emailIncludesText, _.notificationSettings  # (notices)

# types.py AccountDeletion (deleteAccount / adminDeleteUser answers)
_.requestedAt, _.completedAt
# --- types-boto3 names imported under TYPE_CHECKING and used only inside string casts
# (``cast("list[CORSRuleTypeDef]", ...)``), which vulture does not read
_.CORSRuleTypeDef  # local/cloudchat_local/_provision_apps.py
_.QueueAttributeNameType  # local/cloudchat_local/_provision_apps.py
_.ShardIteratorTypeType  # local/cloudchat_local/_stream_shards.py
# --- module-level __getattr__ (PEP 562): Python calls it for a name the module lacks
_.__getattr__  # cloudchat/store/__init__.py: the stream images load on first use (cold start)
