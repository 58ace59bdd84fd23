//go:build tools

// Package tools pins Traefik for the local control plane: the Gateway API data plane that
// carries the canary split (HTTPRoute weighted backendRefs) on the real node.
package tools

import _ "github.com/traefik/traefik/v3/cmd/traefik"
