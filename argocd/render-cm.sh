#!/usr/bin/env bash
# Prints an argocd-cm merge patch that installs health.lua for tweetpipe.io/TweetPipeline.
set -euo pipefail
cd "$(dirname "$0")"
echo "data:"
echo "  resource.customizations.health.tweetpipe.io_TweetPipeline: |"
sed 's/^/    /' health.lua
