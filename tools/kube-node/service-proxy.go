// The `kubernetes` Service for tools/kube's node, in place of kube-proxy (which needs iptables):
// kubelet gives every pod KUBERNETES_SERVICE_HOST/_PORT (the Service's cluster IP, 10.0.0.1:443),
// and this forwards TCP connections from that address to the API server on 127.0.0.1, where it
// listens. TLS passes through untouched: the serving certificate names 10.0.0.1.
//
//	service-proxy LISTEN_ADDRESS TARGET_ADDRESS     e.g. 10.0.0.1:443 127.0.0.1:23773
//
// It exits 0 on SIGINT or SIGTERM. tools/kube builds it with Debian's Go, static (CGO_ENABLED=0).
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func forward(client net.Conn, target string) {
	defer client.Close()
	server, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		fmt.Fprintf(os.Stderr, "service-proxy: %v\n", err)
		return
	}
	defer server.Close()
	done := make(chan struct{}, 2)
	copyHalf := func(to, from net.Conn) {
		io.Copy(to, from)
		if tcp, ok := to.(*net.TCPConn); ok {
			tcp.CloseWrite()
		}
		done <- struct{}{}
	}
	go copyHalf(server, client)
	go copyHalf(client, server)
	<-done
	<-done
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: service-proxy LISTEN_ADDRESS TARGET_ADDRESS")
		os.Exit(2)
	}
	listener, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "service-proxy: %v\n", err)
		os.Exit(1)
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-signals
		os.Exit(0)
	}()
	for {
		client, err := listener.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "service-proxy: %v\n", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go forward(client, os.Args[2])
	}
}
