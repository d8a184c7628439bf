# Every entry point a person types. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PLATFORM := dev/platform
STAGE := dev/stage.sh
# The platform's binaries (kubectl, helm, ...) come first on PATH; see dev/platform/lib.sh.
TOOLS_PATH := $(shell bash -c 'source $(PLATFORM)/lib.sh >/dev/null 2>&1; echo $$K8S_BIN:$$HELM_BIN:$$ETCD_BIN:$$COREDNS_BIN:$$TOFU_BIN'):$(PATH)
export PATH := $(TOOLS_PATH)
export KUBECONFIG := $(CURDIR)/.platform/kubeconfig
# OpenTofu's CLI configuration: providers from the local filesystem mirror only (dev/platform/tofu.sh).
TF_CLI_CONFIG_FILE := $(CURDIR)/.platform/tofu.tfrc
TF_LOCAL := terraform/environments/local/stacks.sh

# Images for tests are built from the test build's own binaries (no second compile);
# `make images` for the demo and benchmarks builds release binaries.
IMAGE_PROFILE ?= release
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
# Argo CD's module needs a newer Go than the machine's; the Go toolchain download provides it.
ARGOCD_GO_TOOLCHAIN := $(shell bash -c 'source $(PLATFORM)/versions.env; echo $$ARGOCD_GO_TOOLCHAIN')
IMAGE_BINARIES := tweetpipe-operator tweetpipe-extractor tweetpipe-transformer xapi-simulator tweetpipe-probe

.PHONY: help demo kind-demo kind-test kind-down chaos test tests shellcheck soak chart-rbac-test platform-up platform-down platform-status shellenv lint build images helm-lint crd-check lua-test bench \
  terraform-demo terraform-destroy terraform-lint terraform-test \
  dashboards dashboards-check dashboards-test \
  observe-up observe-down observe-status rules-test \
  argocd-up argocd-down argocd-status gitops-test \
  release release-check

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

demo: platform-up ## bring the platform up and show it working (the README's main job)
	@$(STAGE) images $(MAKE) --no-print-directory images
	@$(STAGE) platform-check bash dev/demo.sh
	@$(STAGE) pipeline bash examples/demo.sh

kind-demo: platform-up ## the demo on a kind cluster from kind-config.yaml (podman here), left running; KIND_DEMO_WATCH=60 seconds of posts; kind-down ends it
	@bash dev/kind/kind.sh demo

kind-test: platform-up ## kind on podman end to end: node and base images made here, images/Dockerfile images vs umoci ones, covid19 Ready, posts, deleted clean (docs/kind.md)
	@$(STAGE) kind-test bash dev/kind/kind.sh test

kind-down: ## delete the kind cluster of kind-demo/kind-test and its podman network
	@bash dev/kind/kind.sh down

test: ## every quality gate and test, on a platform brought up from scratch if needed
	@$(STAGE) platform-up bash $(PLATFORM)/up.sh
	@$(STAGE) fmt cargo fmt --all --check
	@$(STAGE) shellcheck $(MAKE) --no-print-directory shellcheck
	@$(STAGE) clippy cargo clippy --workspace --all-targets --locked -- -D warnings
	@$(STAGE) layering bash dev/check-layering.sh
	@$(STAGE) previous-release bash dev/upgrade/previous.sh build
	@$(STAGE) build cargo test --workspace --locked --no-run
	@$(STAGE) build-bins cargo build --workspace --bins --locked
	@$(STAGE) images $(MAKE) --no-print-directory images IMAGE_PROFILE=debug
	@$(STAGE) observe-up bash $(PLATFORM)/observe.sh up
	@$(STAGE) tests $(MAKE) --no-print-directory tests
	@# Chaos next: it mostly waits on a running pipeline, and the tool builds .ci/run leaves to the
	@# background (OpenTofu, Argo CD, Superset) use that idle CPU before the stages that need them.
	@$(STAGE) chaos env CHAOS_MINUTES=2 bash dev/chaos.sh
	@$(STAGE) helm-lint $(MAKE) --no-print-directory helm-lint
	@$(STAGE) chart-rbac-test $(MAKE) --no-print-directory chart-rbac-test
	@$(STAGE) rules-test $(MAKE) --no-print-directory rules-test
	@$(STAGE) crd-check $(MAKE) --no-print-directory crd-check
	@$(STAGE) release-check $(MAKE) --no-print-directory release-check
	@$(STAGE) dashboards-test $(MAKE) --no-print-directory dashboards-test
	@$(STAGE) lua-test $(MAKE) --no-print-directory lua-test
	@$(STAGE) terraform-lint $(MAKE) --no-print-directory terraform-lint
	@$(STAGE) terraform-test $(MAKE) --no-print-directory terraform-test
	@$(STAGE) gitops-test $(MAKE) --no-print-directory gitops-test

shellcheck: ## every shell script of the repository through shellcheck (Debian's package; settings in .shellcheckrc)
	@git ls-files -z '*.sh' .ci/run dev/kind/bin/podman dev/kind/node/entrypoint | xargs -0 shellcheck

tests: ## the workspace's unit, integration and end-to-end tests on the running platform, TEST_JOBS (2) binaries at a time, each bounded by dev/test-binary.sh
	@python3 dev/run-tests.py $(TEST_FLAGS)

soak: ## N fresh platforms in a row, the tests stage on each, a pass/fail table (SOAK_RUNS=3)
	@bash dev/soak.sh $(or $(SOAK_RUNS),3)

chaos: platform-up ## seeded faults through the operator, then prove nothing lost or duplicated (CHAOS_MINUTES=10, CHAOS_SEED=n replays; CHAOS_IMAGE_TAG=t builds and runs images :t instead of :dev)
	@$(STAGE) build-bins cargo build --workspace --bins --locked
	@$(STAGE) images env TWEETPIPE_IMAGE_TAG=$(or $(CHAOS_IMAGE_TAG),dev) $(MAKE) --no-print-directory images IMAGE_PROFILE=debug
	@$(STAGE) chaos bash dev/chaos.sh

platform-up: ## build (cached) and start Kubernetes, Kafka and MariaDB; idempotent
	@bash $(PLATFORM)/up.sh

platform-down: ## stop everything platform-up started; PURGE=1 also deletes its data
	@bash $(PLATFORM)/down.sh $(if $(PURGE),--purge)

platform-status: ## one line per platform component
	@bash $(PLATFORM)/status.sh

observe-up: ## build (cached) and start Prometheus and an OpenTelemetry Collector beside the platform
	@bash $(PLATFORM)/observe.sh up

observe-down: ## stop Prometheus and the collector
	@bash $(PLATFORM)/observe.sh down

observe-status: ## is Prometheus up, is the collector up
	@bash $(PLATFORM)/observe.sh status

rules-test: ## promtool check and unit tests of the alert rules (helm/tweetpipe-operator/files/alerts.yaml)
	@bash dev/alerts/test.sh

shellenv: ## print exports for kubectl/helm/tofu against the local platform: eval "$(make -s shellenv)"
	@bash $(PLATFORM)/tofu.sh cli-config >/dev/null
	@echo "export PATH=\"$(TOOLS_PATH)\" KUBECONFIG=\"$(KUBECONFIG)\" TF_CLI_CONFIG_FILE=\"$(TF_CLI_CONFIG_FILE)\""

build: ## release binaries
	cargo build --release --locked $(addprefix --bin ,$(IMAGE_BINARIES))

images: ## OCI images tweetpipe/<component>:dev imported into the local node
	@if [ "$(IMAGE_PROFILE)" = release ]; then $(MAKE) --no-print-directory build; fi
	@for bin in $(IMAGE_BINARIES); do \
	  bash $(PLATFORM)/images.sh binary $${bin#tweetpipe-} $(TARGET_DIR)/$(IMAGE_PROFILE)/$$bin || exit 1; \
	done

release: ## versioned release artefacts in dist/VERSION/: image archives, SBOMs, chart, CRDs, SHA256SUMS (VERSION=x.y.z; docs/upgrading.md#releasing)
	@bash dev/release/release.sh build "$(VERSION)"

release-check: ## seconds, no build: make release's version guard, SBOM writer and reproducible archives against fixtures
	@bash dev/release/test.sh

helm-lint: ## lint the operator chart strictly, render it, and check its values schema refuses bad values
	@bash helm/lint.sh

chart-rbac-test: ## what the chart's RBAC grants, asked of the platform's API server (watchNamespaces: Roles only; aggregated edit/view roles)
	@bash helm/rbac-test.sh

crd-check: ## fail if crds/ or docs/reference/api.md differ from what the Rust types generate (fix: dev/check-crd-drift.sh --write), or docs/troubleshooting.md lacks a reason the operator sets
	@bash dev/check-crd-drift.sh

dashboards: ## Apache Superset on the demo's pipeline (after make demo): start it, import the dashboards, print the URL
	@bash dashboards/superset-demo.sh

dashboards-check: ## fail if the Grafana JSON or the Superset bundle differ from dashboards/sql (fix: python3 dashboards/generate.py)
	@python3 dashboards/generate.py --check

dashboards-test: ## a pipeline's posts in Superset: every chart's data, the dashboard in headless Chromium, its screenshot
	@bash dashboards/tests/superset-e2e.sh

terraform-demo: platform-up ## the operator and the demo pipeline through OpenTofu (terraform/environments/local), posts arriving
	@$(STAGE) images $(MAKE) --no-print-directory images
	@$(STAGE) terraform-apply bash $(TF_LOCAL) demo

terraform-destroy: ## remove what terraform-demo made: pipeline (topic, database, Secrets), then operator
	@bash $(TF_LOCAL) destroy

terraform-lint: ## tofu fmt -check over terraform/ and tofu validate of every root that can be validated here
	@bash terraform/tests/lint.sh

terraform-test: ## end-to-end: tofu init offline, apply, no drift, in-place change, destroy leaves nothing
	@bash terraform/tests/e2e.sh

lua-test: ## Argo CD health check against sample statuses: in Argo CD's own Lua runtime (Go), and lua5.4
	@# The flags of dev/platform/argocd.sh build, so that the test reuses its compiled packages
	@# (after the build .ci/run may be running in the background).
	@bash $(PLATFORM)/argocd.sh await-build
	@cd argocd && CGO_ENABLED=0 GOTOOLCHAIN=$(ARGOCD_GO_TOOLCHAIN) go test -trimpath -count=1 -v ./...
	@cd argocd && lua5.4 tests/run.lua

argocd-up: platform-up ## build (cached) and start Argo CD in core mode with the repo it syncs from; idempotent
	@bash $(PLATFORM)/argocd.sh up

argocd-down: ## stop Argo CD's processes (its Applications stay in the cluster)
	@bash $(PLATFORM)/argocd.sh down

argocd-status: ## one line: Argo CD up or down
	@bash $(PLATFORM)/argocd.sh status

gitops-test: ## Argo CD syncs the chart and a pipeline from git: health, changes, drift, deletion (brings Argo CD up and down)
	@$(STAGE) argocd-up bash $(PLATFORM)/argocd.sh up
	@$(STAGE) gitops-e2e bash argocd/tests/e2e.sh; rc=$$?; bash $(PLATFORM)/argocd.sh down; exit $$rc

bench: platform-up ## benchmarks; figures go to docs/
	@for script in bench/*.sh; do [ -e "$$script" ] || continue; $(STAGE) "$$script" bash "$$script" || exit 1; done
