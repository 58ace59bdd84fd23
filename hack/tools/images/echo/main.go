// Command echo answers HTTP with the pod's name: the local node's smoke-test image
// (a readiness probe on /healthz, a Service in front, a DNS name from another pod).
// With -get URL it fetches URL once and prints the status and body, so one pod can call
// another, or the apiserver (-ca, -token: its ServiceAccount's CA and token files).
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	addr := flag.String("listen", ":8080", "address to serve on")
	get := flag.String("get", "", "fetch this URL once, print the status and body, exit")
	ca := flag.String("ca", "", "with -get: trust this CA file")
	token := flag.String("token", "", "with -get: send this file's token as a bearer")
	flag.Parse()
	if *get != "" {
		os.Exit(fetch(*get, *ca, *token))
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

func fetch(url, ca, token string) int {
	client := http.Client{Timeout: 10 * time.Second}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if token != "" {
		raw, err := os.ReadFile(token)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(raw)))
	}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d %s\n", resp.StatusCode, body)
	return 0
}
