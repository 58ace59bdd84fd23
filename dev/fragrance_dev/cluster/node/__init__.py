"""A real node beside kwok's: containerd, runc and the CNI plugins from the distribution, a
kubelet and kube-proxy built from the pinned Kubernetes module, CoreDNS for cluster DNS."""
