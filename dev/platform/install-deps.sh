#!/usr/bin/env bash
# Installs what the platform needs from Debian's packages, once. Go, Java/Maven and Rust come with
# the machine image; everything else is built by build-kubernetes.sh and kafka.sh.
source "$(dirname "$0")/lib.sh"

PACKAGES=(containerd runc containernetworking-plugins mariadb-server mariadb-client iptables
  conntrack umoci jq lua5.4 curl openssl iproute2 kmod cmake
  # librdkafka's cmake build includes curl/curl.h even with curl off (header only, nothing links).
  libcurl4-openssl-dev
  # librdkafka's TLS and SASL/SCRAM link the system OpenSSL (rdkafka feature `ssl`); images.sh
  # copies libssl3/libcrypto3 into the images with the binaries' other shared libraries.
  libssl-dev pkg-config
  # Argo CD's cache (argocd.sh). Debian 12's Redis 7.0 is BSD-3-Clause (from 7.4 Redis is not open
  # source); git for the repository argocd.sh serves with `git daemon`.
  redis-server git
  # eu-stack: the e2e timeout diagnostics print every thread's stack of a stuck operator.
  elfutils
  # make test's shellcheck stage.
  shellcheck)
install_debian_packages "${PACKAGES[@]}"
for tool in go java mvn cargo; do command -v "$tool" >/dev/null || die "$tool is missing: this machine image should provide it"; done
