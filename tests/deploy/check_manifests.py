"""Parses the deployment manifests and checks the fields each kind must have.

Usage: check_manifests.py REPO_ROOT. Prints one line per document; exits 1 on a problem.
"""
import sys
from pathlib import Path

import yaml

root = Path(sys.argv[1])
problems = []
seen = {}


def need(doc, path, where):
    cur = doc
    for key in path.split("."):
        if isinstance(cur, list):
            cur = cur[int(key)] if key.isdigit() and int(key) < len(cur) else None
        elif isinstance(cur, dict):
            cur = cur.get(key)
        else:
            cur = None
        if cur is None:
            problems.append(f"{where}: missing {path}")
            return None
    return cur


for f in sorted(list((root / "deploy").rglob("*.yaml"))):
    for i, doc in enumerate(yaml.safe_load_all(f.read_text())):
        if doc is None:
            continue
        where = f"{f.relative_to(root)}#{i}"
        kind = need(doc, "kind", where)
        need(doc, "apiVersion", where)
        need(doc, "metadata.name", where)
        seen[kind] = doc
        print(where, kind, doc.get("metadata", {}).get("name"))
        if kind == "ServingRuntime":
            need(doc, "spec.supportedModelFormats.0.name", where)
            if "v2" not in (need(doc, "spec.protocolVersions", where) or []):
                problems.append(f"{where}: protocolVersions lacks v2")
            c = need(doc, "spec.containers.0", where) or {}
            args = c.get("args", [])
            if "serve" not in args:
                problems.append(f"{where}: container does not run `mnv2 serve`")
            if not any(a.startswith("--host=0.0.0.0") for a in args):
                problems.append(f"{where}: must listen on 0.0.0.0 inside the pod")
            need(doc, "spec.containers.0.ports.0.containerPort", where)
            if not need(doc, "spec.containers.0.securityContext.runAsNonRoot", where):
                problems.append(f"{where}: must run as non-root")
        elif kind == "InferenceService":
            need(doc, "spec.predictor.model.modelFormat.name", where)
            need(doc, "spec.predictor.model.storageUri", where)
            if need(doc, "spec.predictor.model.protocolVersion", where) != "v2":
                problems.append(f"{where}: protocolVersion must be v2")
        elif kind == "Deployment":
            sel = need(doc, "spec.selector.matchLabels", where) or {}
            labels = need(doc, "spec.template.metadata.labels", where) or {}
            if not sel or any(labels.get(k) != v for k, v in sel.items()):
                problems.append(f"{where}: selector does not match the pod labels")
            c = need(doc, "spec.template.spec.containers.0", where) or {}
            for probe, path in (("readinessProbe", "/v2/health/ready"), ("livenessProbe", "/v2/health/live")):
                if (c.get(probe) or {}).get("httpGet", {}).get("path") != path:
                    problems.append(f"{where}: {probe} must GET {path}")
            need(doc, "spec.template.spec.containers.0.resources.requests.cpu", where)
        elif kind == "Service":
            need(doc, "spec.selector", where)
            need(doc, "spec.ports.0.port", where)
        elif kind == "HorizontalPodAutoscaler":
            need(doc, "spec.scaleTargetRef.name", where)
            need(doc, "spec.maxReplicas", where)

# Cross-references: the InferenceService names the runtime; the HPA names the Deployment.
if "InferenceService" in seen and "ServingRuntime" in seen:
    if seen["InferenceService"]["spec"]["predictor"]["model"].get("runtime") != seen["ServingRuntime"]["metadata"]["name"]:
        problems.append("InferenceService.runtime does not name the ServingRuntime")
if "HorizontalPodAutoscaler" in seen and "Deployment" in seen:
    if seen["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] != seen["Deployment"]["metadata"]["name"]:
        problems.append("HPA scaleTargetRef does not name the Deployment")
for k in ("ServingRuntime", "InferenceService", "Deployment", "Service", "HorizontalPodAutoscaler"):
    if k not in seen:
        problems.append(f"no {k} manifest under deploy/")

for p in problems:
    print("PROBLEM:", p)
sys.exit(1 if problems else 0)
