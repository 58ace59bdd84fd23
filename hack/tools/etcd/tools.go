//go:build tools

// Package tools pins etcd. Debian's etcd 3.4.23 lacks RequestWatchProgress, without which
// watch-list clients such as kwok keep losing their watches.
package tools

import _ "go.etcd.io/etcd/server/v3"
