"""Independent check of a kino-signed MP4 with the c2pa Python package (c2pa-python).

usage: python3 c2pa_read.py FILE EXPECT

EXPECT is an action the active manifest must contain (e.g. c2pa.created) -- then the manifest
must be readable and every validation failure must be about trust -- or "invalid", when the
file was tampered with and a non-trust failure must be reported.
Prints the reader's validation state and failure codes; exits non-zero on a mismatch.
"""

import json
import sys

import c2pa

TRUST_CODES = {"signingCredential.untrusted"}


def main() -> int:
    path, expect = sys.argv[1], sys.argv[2]
    with open(path, "rb") as f:
        reader = c2pa.Reader("video/mp4", f)
        store = json.loads(reader.json())
    active_label = store.get("active_manifest")
    manifest = store.get("manifests", {}).get(active_label)
    if manifest is None:
        print("no active manifest")
        return 1
    results = store.get("validation_results") or {}
    failures = [s.get("code") for s in (results.get("activeManifest") or {}).get("failure", [])]
    for delta in results.get("ingredientDeltas") or []:
        failures += [s.get("code") for s in delta.get("validationDeltas", {}).get("failure", [])]
    state = store.get("validation_state")
    actions = []
    for a in manifest.get("assertions", []):
        if a.get("label", "").startswith("c2pa.actions"):
            actions += [x.get("action") for x in a.get("data", {}).get("actions", [])]
    generator = [g.get("name") for g in manifest.get("claim_generator_info", [])]
    print(
        f"state={state} failures={failures} actions={actions} generator={generator} "
        f"ingredients={[i.get('relationship') for i in manifest.get('ingredients', [])]} "
        f"sdk={c2pa.sdk_version()}"
    )
    other = [c for c in failures if c not in TRUST_CODES]
    if expect == "invalid":
        return 0 if other else 1
    if other:
        print(f"unexpected non-trust failures: {other}")
        return 1
    if expect not in actions:
        print(f"missing action {expect}")
        return 1
    if "kino" not in generator:
        print("claim generator is not kino")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
