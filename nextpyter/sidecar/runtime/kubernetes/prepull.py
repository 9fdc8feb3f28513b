"""Images on the nodes: a pre-pull DaemonSet per image (objects.make_prepull_daemonset),
and on how many nodes each is ready (its DaemonSet's ready pods)."""

from __future__ import annotations

from collections.abc import Sequence

import kubernetes.client
from kubernetes.client.exceptions import ApiException

from ...kube_settings import KubernetesSettings
from .client import api, meta, request_body
from .objects import LABEL, PREPULL, make_prepull_daemonset, prepull_name, selector
from .watch import list_raw


class PrePulls:
    """What KubernetesBackend pulls onto its nodes."""

    settings: KubernetesSettings
    namespace: str
    installation: str
    apps: kubernetes.client.AppsV1Api

    def prepull(self, images: Sequence[str]) -> dict[str, dict[str, int] | None]:
        """Have every node pull each image (a DaemonSet each); the report of image_report."""
        for image in images:
            body = make_prepull_daemonset(image, self.settings, self.installation)
            try:
                with api(passing=(409,)):
                    self.apps.create_namespaced_daemon_set(
                        self.namespace, request_body(body), _preload_content=False
                    )
            except ApiException:
                with api(passing=()):
                    self.apps.patch_namespaced_daemon_set(
                        prepull_name(image),
                        self.namespace,
                        request_body(body),
                        _preload_content=False,
                    )
        return self.image_report(images)

    def image_report(self, images: Sequence[str]) -> dict[str, dict[str, int] | None]:
        """For each image: on how many nodes it is ready (its pre-pull pod ran the image)
        of how many its DaemonSet should run on; None for one never pre-pulled."""
        with api(passing=()):
            sets = (
                list_raw(
                    self.apps.list_namespaced_daemon_set,
                    namespace=self.namespace,
                    label_selector=selector(self.installation, PREPULL),
                ).get("items")
                or []
            )
        found = {str((meta(s).get("annotations") or {}).get(LABEL + "image")): s for s in sets}
        report: dict[str, dict[str, int] | None] = {}
        for image in images:
            status = (found[image].get("status") or {}) if image in found else None
            report[image] = (
                None
                if status is None
                else {
                    "ready": int(status.get("numberReady") or 0),
                    "nodes": int(status.get("desiredNumberScheduled") or 0),
                }
            )
        return report
