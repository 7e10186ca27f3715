// The init of tools/kube's pod sandboxes, the one program of its pause image. Like Kubernetes'
// own pause it is a single process that waits: it exits 0 on SIGINT or SIGTERM, and reaps the
// orphans of pods that share its pid namespace (it is their PID 1). tools/kube builds it with
// Debian's Go, static (CGO_ENABLED=0).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 16)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			return
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
