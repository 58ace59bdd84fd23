"""The pod template e2e releases share: where a platform team puts serving pods."""

from __future__ import annotations

from typing import Any

from tests.helpers import ROOT


def real_node_template() -> dict[str, Any]:
    """Serving pods on the real node, tainted like a GPU pool, the trained weights mounted."""
    return {
        "metadata": {"labels": {"team": "perfume"}},
        "spec": {
            "nodeSelector": {"fragrance.ai/node": "real"},
            "tolerations": [
                {"key": "fragrance.ai/real-node", "operator": "Exists", "effect": "NoSchedule"}
            ],
            "containers": [
                {
                    "name": "serving",
                    "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}},
                    "volumeMounts": [{"name": "models", "mountPath": "/models", "readOnly": True}],
                }
            ],
            # The weights `make models` trained; a cluster would use a PVC or an image volume.
            "volumes": [
                {"name": "models", "hostPath": {"path": str(ROOT / "models"), "type": "Directory"}}
            ],
        },
    }
