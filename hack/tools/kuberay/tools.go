//go:build tools

// KubeRay's operator (RayCluster, RayService), built from its Go module.
package tools

import _ "github.com/ray-project/kuberay/ray-operator"
