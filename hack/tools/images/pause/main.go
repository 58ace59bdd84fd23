// Command pause holds a pod's namespaces open, as Kubernetes' own pause does: it sleeps
// until asked to stop. The local node's sandbox image runs it (no registry is reachable).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}
