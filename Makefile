# CloudChat — every workflow starts here. Nothing is assumed beyond Python 3.11, Node 20 and apt.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
ENV ?= dev
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install test test-fast pre-commit check lint deadcode typecheck template-lint build deploy dev clean soak mutate

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

# One resolve: the pins (requirements-dev.txt) and the project with its declared groups
# (pyproject.toml), so a declared range that rejects its pin fails here.
$(VENV)/.installed: requirements-dev.txt layers/shared/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -e '.[dev]'
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet -r requirements-sam.txt
	touch $@

install: $(VENV)/.installed $(SAM_VENV)/.installed browser ## create the virtualenvs, install Chromium (idempotent)

# `make test` runs in parallel (pytest-xdist): TEST_WORKERS processes, each taking whole modules
# (--dist loadfile: a module's local stack or browser starts once), the longest first
# (tests/conftest.py orders them; --no-loadscope-reorder keeps that order). Much of the suite
# waits on subprocesses, sockets and the stacks' GSI/stream lag, so more workers than cores pay
# off. TEST_WORKERS=0 runs it serially. It ends with the 15 slowest tests and the IAM report.
TEST_WORKERS ?= 3
XDIST = $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder,-p no:xdist)

test: install ## run the whole test suite in parallel (unit, integration, template, local stack, e2e)
	$(PY) -m pytest $(XDIST) --durations=15 $(PYTEST_ARGS)

# Under a minute: tests/unit without the tests marked `slow` (property tests drawing hundreds of
# examples). It leaves out tests/integration: each of its tests builds the table under moto
# (~1 s), so no useful share of it fits in a minute; README "Tests" lists what else it leaves
# out. `make test` runs everything.
test-fast: $(VENV)/.installed ## the quick tier (< 1 min): tests/unit without `slow`
	$(PY) -m pytest -n 2 -m "not slow" --durations=5 tests/unit $(PYTEST_ARGS)

pre-commit: $(VENV)/.installed ## install the git pre-commit hook (ruff, mypy from .venv)
	$(VENV)/bin/pre-commit install

.PHONY: test-unpatched
test-unpatched: $(VENV)/.installed ## integration tests on moto as released: no local patch (~10 min)
	CLOUDCHAT_MOTO_PATCHES=off $(PY) -m pytest tests/integration $(PYTEST_ARGS)

check: lint deadcode typecheck template-lint ## ruff, vulture, mypy, cfn-lint and sam validate

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

# vulture over the packages and bench/, the tests counting as users; what only looks unused is
# named in tests/vulture_whitelist.py with its reason (tests/deadcode.py says how it is run).
deadcode: $(VENV)/.installed ## unused functions, classes, attributes and variables (vulture)
	$(PY) -m tests.deadcode

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

template-lint: install
	$(VENV)/bin/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing $(SAM) validate --lint --region us-east-1

build: $(SAM_VENV)/.installed ## sam build, then precompile (needs python3.12 on PATH)
	SAM_CLI_TELEMETRY=0 $(SAM) build
	# Lambda's filesystem is read-only: without shipped bytecode every cold start compiles
	# our modules (python -m bench.cold_start measures the difference). unchecked-hash: zip
	# timestamps are not trusted.
	python3.12 -m compileall -q --invalidation-mode unchecked-hash .aws-sam/build

deploy: build ## sam deploy --config-env $(ENV)
	SAM_CLI_TELEMETRY=0 $(SAM) deploy --config-env $(ENV)

# The black-box check of a stack: STACK=name [REGION=r] reads a deployed stack's CloudFormation
# outputs (your AWS credentials create and delete its temporary Cognito users); no STACK: the
# local stack's .cloudchat/outputs.json. The JSON report goes to .cloudchat/verify.json.
.PHONY: verify
verify: $(VENV)/.installed ## check a stack end to end: make verify STACK=name [REGION=r] (no STACK: make dev's)
	$(PY) -m cloudchat_cli $(if $(STACK),--stack $(STACK)) $(if $(REGION),--region $(REGION)) verify \
		--report .cloudchat/verify$(if $(STACK),-$(STACK)).json $(VERIFY_ARGS)

dev: $(VENV)/.installed web ## run the local stack (moto + AppSync emulator) on 127.0.0.1
	$(PY) -m cloudchat_local.dev $(DEV_ARGS)

# Issue #7's figures: 50 users, 20 conversations; bounded by time and by count.
SOAK_ARGS ?= --users 50 --conversations 20 --duration 180 --max-messages 10000 --storms 5

soak: $(VENV)/.installed ## load and soak run on a fresh local stack, prints JSON (SOAK_ARGS to change it)
	@$(PY) -m bench.soak $(SOAK_ARGS)

# The web client (web/): npm ci when the lock changed, a build when a source is newer than it.
.PHONY: web browser web-config
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) web/index.html web/vite.config.js \
	web/package.json web/package-lock.json
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SOURCES)
	cd web && npm run build

web: web/dist/index.html ## build the web client into web/dist (make dev serves it at /app/)

$(CHROMIUM):
	$(SUDO) apt-get install -y chromium || { $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium; }

browser: $(CHROMIUM) ## Debian's Chromium, for the web client's browser test (apt-get, once)

web-config: $(VENV)/.installed ## web/public/config.json for a deployed stack: make web-config STACK=cloudchat-dev
	$(PY) -m cloudchat_local.web_config --stack $(or $(STACK),cloudchat-$(ENV)) $(if $(REGION),--region $(REGION))

# Mutation testing of the security rules (docs/security.md, "Mutation testing"); not part of
# `make test`. mutmut names mutants by file path, so it runs on a flat copy in build/mutate/
# (cloudchat/ + tests/ + what the tests read); [tool.mutmut] in pyproject.toml holds the test
# subset. The default scope (~1,000 mutants: crypto.py, tokens.py, validation.py and the
# membership functions of services/members.py and changes.py) is estimated at ~30 min on 2 idle
# cores (measured: ~60 under load); SCOPE=all adds every authorization and membership function
# of services/ and store/ (~3,150 mutants, hours); MUTANTS='<mutmut globs>' picks any set.
MUTATE_DIR := build/mutate
# mutmut 3 names a method's mutants <module>.xǁ<Class>ǁ<method>__mutmut_<n>; SVC_<module> is the
# prefix for one capability module of cloudchat/services/ (its ChatService mixin).
SVC_CONV := cloudchat.services.conversations.xǁConversationsServiceǁ
SVC_MSG := cloudchat.services.messages.xǁMessagesServiceǁ
SVC_CHG := cloudchat.services.changes.xǁChangesServiceǁ
SVC_RCPT := cloudchat.services.receipts.xǁReceiptsServiceǁ
SVC_THR := cloudchat.services.threads.xǁThreadsServiceǁ
SVC_MOD := cloudchat.services.moderation.xǁModerationServiceǁ
SVC_MEM := cloudchat.services.members.xǁMembersServiceǁ
# the store's functions by <module>.xǁ<Class>ǁ<method> (cloudchat/store/ is a package of mixins)
STO := cloudchat.store.
STO_METHODS := _conversations.xǁConversationsStoreǁconversation_and_member \
	_messages.xǁMessagesStoreǁmessage_and_member _base.xǁStoreBaseǁ_member_check \
	$(foreach f,_refused _change_message react edit_message delete_message,_message_writes.xǁMessageWritesStoreǁ$(f)) \
	_members.xǁMembersStoreǁchange_members
MUTANTS_CORE := 'cloudchat.crypto.*' 'cloudchat.tokens.*' 'cloudchat.validation.*' \
	$(foreach f,add_members remove_member leave set_member_role,'$(SVC_MEM)$(f)__mutmut_*') \
	'$(SVC_CHG)edit_history__mutmut_*'
MUTANTS_ALL := $(MUTANTS_CORE) \
	$(foreach f,conversation _view,'$(SVC_CONV)$(f)__mutmut_*') \
	$(foreach f,messages messages_since authorize_subscription subscription_rules,'$(SVC_MSG)$(f)__mutmut_*') \
	$(foreach f,_raise_refused edit_message delete_message,'$(SVC_CHG)$(f)__mutmut_*') \
	'$(SVC_RCPT)read_receipts__mutmut_*' '$(SVC_THR)thread__mutmut_*' \
	'$(SVC_MOD)reported_messages__mutmut_*' \
	$(foreach f,rename admin_create_user _group_for_change _apply_members,'$(SVC_MEM)$(f)__mutmut_*') \
	$(foreach f,$(STO_METHODS),'$(STO)$(f)__mutmut_*')
MUTANTS ?= $(if $(filter all,$(SCOPE)),$(MUTANTS_ALL),$(MUTANTS_CORE))

mutate: $(VENV)/.installed requirements-mutate.txt ## mutation score of the security rules (mutmut; long: docs/security.md)
	$(PY) -m pip install --quiet -r requirements-mutate.txt
	rm -rf $(MUTATE_DIR) && mkdir -p $(MUTATE_DIR)
	cp -r layers/shared/cloudchat tests events schema.graphql template.yaml pyproject.toml $(MUTATE_DIR)/
	cd $(MUTATE_DIR) && time ../../$(VENV)/bin/mutmut run $(MUTANTS)
	cd $(MUTATE_DIR) && ../../$(VENV)/bin/mutmut results --all true | grep -v ': not checked$$' > results.txt
	@echo "== not killed ($(MUTATE_DIR)/results.txt has every mutant):"; grep -v ': killed$$' $(MUTATE_DIR)/results.txt || true
	@for s in killed timeout survived 'no tests' suspicious; do \
	  printf '%-10s %s\n' "$$s" "$$(grep -c ": $$s$$" $(MUTATE_DIR)/results.txt)"; done

clean: ## remove virtualenvs, build output and local state
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .cloudchat .pytest_cache .mypy_cache .ruff_cache
	rm -rf web/dist web/node_modules
