#!/usr/bin/env bash
# make terraform-lint: `tofu fmt -check` over terraform/, `tofu validate` of every module and
# root whose providers are in the local mirror, and `tofu test` of modules that have tests. Of the
# AWS stacks only environments/aws/operator (helm + kubernetes) is validated: platform/ and
# pipelines/ need hashicorp/aws, which cannot be built or downloaded here, so they get fmt only
# (terraform/environments/aws/README.md).
set -o errexit -o nounset -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

main() {
  bash "$REPO/dev/platform/tofu.sh" build
  local tofu_bin dir status=0
  tofu_bin=$(bash "$REPO/dev/platform/tofu.sh" path)
  export PATH="$tofu_bin:$PATH" TF_IN_AUTOMATION=1 TF_INPUT=0
  TF_CLI_CONFIG_FILE=$(bash "$REPO/dev/platform/tofu.sh" cli-config)
  export TF_CLI_CONFIG_FILE

  echo "tofu fmt -check -recursive terraform/"
  if ! tofu fmt -check -recursive -diff "$REPO/terraform"; then
    echo "FAIL: files above need \`tofu fmt -recursive terraform/\`" >&2
    status=1
  fi

  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT  # global: the trap runs after main returns
  for dir in modules/operator modules/pipeline environments/local/operator environments/local/pipeline environments/aws/operator; do
    # Each in its own data directory, without a backend: validation touches no state.
    if TF_DATA_DIR=$work/${dir//\//_} tofu -chdir="$REPO/terraform/$dir" init -backend=false >/dev/null 2>"$work/init.err"; then
      if TF_DATA_DIR=$work/${dir//\//_} tofu -chdir="$REPO/terraform/$dir" validate -no-color; then
        echo "ok: tofu validate terraform/$dir"
        # Modules with tests/*.tftest.hcl: `tofu test` with mocked providers (no cluster).
        [[ -d $REPO/terraform/$dir/tests ]] || continue
        if TF_DATA_DIR=$work/${dir//\//_} tofu -chdir="$REPO/terraform/$dir" test -no-color; then
          echo "ok: tofu test terraform/$dir"
          continue
        fi
        echo "FAIL: tofu test terraform/$dir" >&2
        status=1
        continue
      fi
    else
      cat "$work/init.err" >&2
    fi
    echo "FAIL: tofu validate terraform/$dir" >&2
    status=1
  done
  return "$status"
}

main "$@"
