// Command coredns is CoreDNS with only the plugins the local cluster's DNS needs: Service and
// pod names from the apiserver, answered from a cache; nothing is forwarded (no upstream is
// reachable from these machines). A build of its own keeps the dozens of cloud plugins (and
// their modules) out of the build.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
	"github.com/coredns/coredns/coremain"
)

func init() {
	// The plugin chain, in the order a query walks it.
	dnsserver.Directives = []string{"bind", "errors", "health", "ready", "cache", "kubernetes"}
}

func main() {
	coremain.Run()
}
