// Command echo answers HTTP with the pod's name: the local node's smoke-test image
// (a readiness probe on /healthz, a Service in front, a DNS name from another pod).
// With -get URL it fetches URL once and prints the answer, so one pod can call another.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	addr := flag.String("listen", ":8080", "address to serve on")
	get := flag.String("get", "", "fetch this URL once, print the body and exit")
	flag.Parse()
	if *get != "" {
		client := http.Client{Timeout: 10 * time.Second}
		resp, err := client.Get(*get)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Printf("%d %s\n", resp.StatusCode, body)
		return
	}
	name, _ := os.Hostname()
	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", name)
	})
	if err := http.ListenAndServe(*addr, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
