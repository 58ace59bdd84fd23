//go:build tools

// Package tools pins helm, used to prove the chart installs against the local control plane.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
