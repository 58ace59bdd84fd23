//go:build tools

// Package tools pins Prometheus for the local control plane: Debian's package is built
// without kubernetes_sd_configs, which the tests need to discover pods as a cluster does.
package tools

import _ "github.com/prometheus/prometheus/cmd/prometheus"
