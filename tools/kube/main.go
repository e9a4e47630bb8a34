// Command kube is the box's real Kubernetes control plane in one binary:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
// kube-proxy, built from the published modules of the release go.mod pins.
//
//	kube etcd --data-dir DIR --listen URL
//	kube apiserver|controller-manager|scheduler|proxy [upstream flags]
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/component-base/cli"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	cm "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kube etcd|apiserver|controller-manager|scheduler|proxy [flags]")
	os.Exit(2)
}

// etcd runs one embedded etcd member that serves clients on loopback only.
func etcd(args []string) int {
	fs := flag.NewFlagSet("etcd", flag.ExitOnError)
	dir := fs.String("data-dir", "", "etcd data directory")
	listen := fs.String("listen", "http://127.0.0.1:2379", "client URL")
	peer := fs.String("peer", "http://127.0.0.1:2380", "peer URL")
	fs.Parse(args)
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "kube etcd: --data-dir is required")
		return 2
	}
	cfg := embed.NewConfig()
	cfg.Dir = *dir
	cfg.LogLevel = "warn"
	c, err := url.Parse(*listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kube etcd: bad --listen %q: %v\n", *listen, err)
		return 2
	}
	p, err := url.Parse(*peer)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kube etcd: bad --peer %q: %v\n", *peer, err)
		return 2
	}
	cfg.ListenClientUrls = []url.URL{*c}
	cfg.AdvertiseClientUrls = []url.URL{*c}
	cfg.ListenPeerUrls = []url.URL{*p}
	cfg.AdvertisePeerUrls = []url.URL{*p}
	cfg.InitialCluster = cfg.Name + "=" + p.String()
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kube etcd: %v\n", err)
		return 1
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
		fmt.Fprintln(os.Stderr, "kube etcd: ready on", c.String())
	case <-time.After(60 * time.Second):
		fmt.Fprintln(os.Stderr, "kube etcd: not ready after 60s")
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err := <-e.Err():
		fmt.Fprintf(os.Stderr, "kube etcd: %v\n", err)
		return 1
	case <-sig:
		return 0
	}
}

// The upstream commands, each as its own binary would run it.
var commands = map[string]func() *cobra.Command{
	"apiserver":          apiserver.NewAPIServerCommand,
	"controller-manager": cm.NewControllerManagerCommand,
	"scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"proxy":              proxy.NewProxyCommand,
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	name, args := os.Args[1], os.Args[2:]
	if name == "etcd" {
		os.Exit(etcd(args))
	}
	newCmd, ok := commands[name]
	if !ok {
		usage()
	}
	c := newCmd()
	c.SetArgs(args)
	os.Exit(cli.Run(c))
}
