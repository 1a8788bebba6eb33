#!/usr/bin/env python3
"""Checks the SpinKube manifests in deploy/spinkube offline, as strictly as
`kubectl apply --validate=strict` would, without a cluster.

    scripts/validate-deploy.py [DIR]              validate DIR (default deploy/spinkube)
    scripts/validate-deploy.py --self-test [DIR]  show that broken copies of DIR's manifests fail

Every `*.yaml` file in DIR (not in its schema/ folder) holds Kubernetes documents:
- A SpinApp is checked against the `openAPIV3Schema` of the SpinApp CRD vendored in DIR/schema/
  (schema/README.md names its source), read as Kubernetes reads a structural schema: a field
  that the schema does not name is an error unless `additionalProperties` or
  `x-kubernetes-preserve-unknown-fields` allows it (the server would drop it; strict validation
  reports it); required fields, types, `format: int32/int64`, enums, patterns, bounds, list types
  and `x-kubernetes-int-or-string` are checked. A null value is an error too (Kubernetes would
  drop it silently).
- A Secret or a CronJob is checked against the schemas written below: a Secret's whole shape, and
  the part of batch/v1 CronJob this folder uses (a field outside it is reported; add it below).
- Then what ties them to each other and to spin.toml: the Secrets that the SpinApp and the CronJob
  name exist and hold the keys named; the runtime config parses and points the `default` store
  at Redis; every SpinApp variable is declared in spin.toml and used by a component the SpinApp
  runs; the triggers those components have are ones containerd-shim-spin runs; `sweep_token`
  follows Hookah's rule; the CronJob calls the sweep route of a SpinApp of this folder.

It prints one line a document and exits 0, or prints every violation and exits 1 (2 when it
cannot run). A schema keyword this checker does not know (say a CEL rule in a newer CRD), in a
part of the schema that a manifest uses, stops it rather than being skipped. Needs Python 3.11+ (tomllib) and PyYAML (Debian: python3-yaml).
"""

import base64
import copy
import difflib
import pathlib
import re
import sys

try:
    import tomllib
    import yaml
except ImportError as missing:
    sys.exit(f"validate-deploy: {missing}: needs Python 3.11+ and PyYAML (Debian: apt-get install python3-yaml)")

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Triggers containerd-shim-spin runs: `get_supported_triggers` in containerd-shim-spin/src/trigger.rs
# (spinframework/containerd-shim-spin, read at commit 56110186). An app with any other trigger
# fails to start; `spec.components` keeps only the triggers of the components it names.
SHIM_TRIGGERS = {"http", "redis", "sqs", "mqtt", "command"}

# Hookah's rule for sweep_token (MIN_SWEEP_TOKEN_LEN in crates/core/src/config.rs).
MIN_SWEEP_TOKEN_LEN = 16

SWEEP_ROUTE = "/_hookah/v1/sweep/"


class SchemaProblem(Exception):
    """The schema itself uses something this checker cannot check."""


# ---------------------------------------------------------------------------------------------
# YAML as Kubernetes reads it: duplicate keys are errors, and a date stays a string.


class StrictLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_documents(text):
    return [doc for doc in yaml.load_all(text, Loader=StrictLoader) if doc is not None]


# ---------------------------------------------------------------------------------------------
# The schema walker: OpenAPI v3 as a CRD's structural schema uses it.

# Keywords that say nothing about validity here (defaults are applied before validation, so a
# required field with a default is never missing).
INERT = {"description", "default", "example", "title", "externalDocs", "x-kubernetes-map-type"}
CHECKED = {
    "type", "properties", "additionalProperties", "required", "items", "enum", "format",
    "pattern", "minLength", "maxLength", "minItems", "maxItems", "uniqueItems", "minimum",
    "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minProperties",
    "maxProperties", "nullable", "anyOf", "allOf", "oneOf", "not",
    "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
}
INT_RANGE = {"int32": (-2**31, 2**31 - 1), "int64": (-2**63, 2**63 - 1)}


def type_of(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def type_matches(value, wanted):
    actual = type_of(value)
    return actual == wanted or (wanted == "number" and actual == "integer")


def check(value, schema, path, errors):
    """Appends to `errors` a message for each way `value` at `path` breaks `schema`."""
    unknown = set(schema) - INERT - CHECKED
    if unknown:
        raise SchemaProblem(f"{path}: schema keyword(s) {sorted(unknown)} are not checked by this script")
    if value is None:
        if not schema.get("nullable"):
            errors.append(f"{path}: null (an empty value) where {schema.get('type', 'a value')} is expected")
        return
    if schema.get("x-kubernetes-int-or-string"):
        if type_of(value) not in ("integer", "string"):
            errors.append(f"{path}: expected an integer or a string, got {type_of(value)} {value!r}")
            return
    elif "type" in schema and not type_matches(value, schema["type"]):
        errors.append(f"{path}: expected {schema['type']}, got {type_of(value)} {value!r}")
        return
    for keyword in ("allOf", "anyOf", "oneOf", "not"):
        if keyword in schema:
            branches = schema[keyword] if keyword != "not" else [schema[keyword]]
            passed = [not check_quietly(value, branch, path) for branch in branches]
            if keyword == "allOf" and not all(passed):
                errors.append(f"{path}: does not match all of {branches}")
            if keyword == "anyOf" and not any(passed):
                errors.append(f"{path}: {value!r} matches none of {branches}")
            if keyword == "oneOf" and sum(passed) != 1:
                errors.append(f"{path}: {value!r} matches {sum(passed)} of {branches}, not exactly one")
            if keyword == "not" and passed[0]:
                errors.append(f"{path}: {value!r} matches {branches[0]}, which is ruled out")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, dict):
        check_object(value, schema, path, errors)
    elif isinstance(value, list):
        check_array(value, schema, path, errors)
    elif isinstance(value, str):
        check_string(value, schema, path, errors)
    elif type_of(value) in ("integer", "number"):
        check_number(value, schema, path, errors)


def check_quietly(value, schema, path):
    errors = []
    check(value, schema, path, errors)
    return errors


def check_object(value, schema, path, errors):
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    preserve = schema.get("x-kubernetes-preserve-unknown-fields")
    embedded = schema.get("x-kubernetes-embedded-resource")
    for key, item in value.items():
        where = f"{path}.{key}"
        if not isinstance(key, str):
            errors.append(f"{path}: key {key!r} is not a string")
        elif key in properties:
            check(item, properties[key], where, errors)
        elif isinstance(extra, dict):
            check(item, extra, where, errors)
        elif extra is True or preserve or (embedded and key in ("apiVersion", "kind", "metadata")):
            continue
        else:
            known = sorted(properties)
            hint = difflib.get_close_matches(key, known, n=1)
            errors.append(f"{where}: unknown field"
                          + (f" (did you mean {hint[0]!r}?)" if hint else "")
                          + (f"; known here: {', '.join(known)}" if known else "; this object takes no fields"))
    for key in schema.get("required", []):
        if key not in value and "default" not in properties.get(key, {}):
            errors.append(f"{path}.{key}: required field missing")
    if len(value) < schema.get("minProperties", 0):
        errors.append(f"{path}: fewer than {schema['minProperties']} fields")
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        errors.append(f"{path}: more than {schema['maxProperties']} fields")


def check_array(value, schema, path, errors):
    for index, item in enumerate(value):
        if "items" in schema:
            check(item, schema["items"], f"{path}[{index}]", errors)
    if len(value) < schema.get("minItems", 0):
        errors.append(f"{path}: {len(value)} item(s), at least {schema['minItems']} required")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(f"{path}: {len(value)} items, at most {schema['maxItems']} allowed")
    list_type = schema.get("x-kubernetes-list-type")
    if schema.get("uniqueItems") or list_type == "set":
        repeated = [item for index, item in enumerate(value) if item in value[:index]]
        if repeated:
            errors.append(f"{path}: repeated item(s) {repeated}")
    if list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys", [])
        seen = []
        for index, item in enumerate(value):
            if isinstance(item, dict):
                identity = tuple(item.get(key) for key in keys)
                if identity in seen:
                    errors.append(f"{path}[{index}]: a second item with {dict(zip(keys, identity))}")
                seen.append(identity)


def check_string(value, schema, path, errors):
    if len(value) < schema.get("minLength", 0):
        errors.append(f"{path}: {value!r} is shorter than {schema['minLength']}")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errors.append(f"{path}: longer than {schema['maxLength']} characters")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if schema.get("format") == "byte":
        try:
            base64.b64decode(value, validate=True)
        except ValueError:
            errors.append(f"{path}: not base64")


def check_number(value, schema, path, errors):
    low, high = INT_RANGE.get(schema.get("format"), (None, None))
    if low is not None and not low <= value <= high:
        errors.append(f"{path}: {value} is out of the {schema['format']} range")
    if "minimum" in schema:
        if value < schema["minimum"] or (schema.get("exclusiveMinimum") and value == schema["minimum"]):
            errors.append(f"{path}: {value} is below the minimum {schema['minimum']}")
    if "maximum" in schema:
        if value > schema["maximum"] or (schema.get("exclusiveMaximum") and value == schema["maximum"]):
            errors.append(f"{path}: {value} is above the maximum {schema['maximum']}")
    if "multipleOf" in schema and value % schema["multipleOf"]:
        errors.append(f"{path}: {value} is not a multiple of {schema['multipleOf']}")


# ---------------------------------------------------------------------------------------------
# Schemas for the built-in kinds: a Secret whole, and the part of a CronJob this folder uses.


def obj(properties, required=()):
    return {"type": "object", "properties": properties, "required": list(required)}


def arr(items, **bounds):
    return {"type": "array", "items": items, **bounds}


def enum(*values):
    return {"type": "string", "enum": list(values)}


STRING = {"type": "string"}
BOOL = {"type": "boolean"}
INT32 = {"type": "integer", "format": "int32", "minimum": 0}
INT64 = {"type": "integer", "format": "int64", "minimum": 0}
STRING_MAP = {"type": "object", "additionalProperties": STRING}
DNS_SUBDOMAIN = {"type": "string", "maxLength": 253,
                 "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"}
DNS_LABEL = {"type": "string", "maxLength": 63, "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}

# What a manifest may say in metadata (the server sets the rest of ObjectMeta).
METADATA = obj({"name": DNS_SUBDOMAIN, "generateName": STRING, "namespace": DNS_LABEL,
                "labels": STRING_MAP, "annotations": STRING_MAP}, ["name"])
TEMPLATE_METADATA = obj({"labels": STRING_MAP, "annotations": STRING_MAP})

SECRET = obj({
    "apiVersion": enum("v1"), "kind": enum("Secret"), "metadata": METADATA, "type": STRING,
    "immutable": BOOL, "stringData": STRING_MAP,
    "data": {"type": "object", "additionalProperties": {"type": "string", "format": "byte"}},
}, ["apiVersion", "kind", "metadata"])

KEY_REF = obj({"name": DNS_SUBDOMAIN, "key": STRING, "optional": BOOL}, ["key"])
CONTAINER = obj({
    "name": DNS_LABEL, "image": STRING, "command": arr(STRING), "args": arr(STRING),
    "imagePullPolicy": enum("Always", "IfNotPresent", "Never"),
    "env": arr(obj({"name": STRING, "value": STRING,
                    "valueFrom": obj({"secretKeyRef": KEY_REF, "configMapKeyRef": KEY_REF})}, ["name"])),
    "resources": obj({"limits": STRING_MAP, "requests": STRING_MAP}),
    "securityContext": obj({
        "runAsNonRoot": BOOL, "runAsUser": INT64, "runAsGroup": INT64,
        "allowPrivilegeEscalation": BOOL, "readOnlyRootFilesystem": BOOL,
        "capabilities": obj({"add": arr(STRING), "drop": arr(STRING)}),
    }),
}, ["name", "image"])
CRONJOB = obj({
    "apiVersion": enum("batch/v1"), "kind": enum("CronJob"), "metadata": METADATA,
    "spec": obj({
        "schedule": STRING, "timeZone": STRING, "suspend": BOOL,
        "concurrencyPolicy": enum("Allow", "Forbid", "Replace"),
        "startingDeadlineSeconds": INT64, "successfulJobsHistoryLimit": INT32,
        "failedJobsHistoryLimit": INT32,
        "jobTemplate": obj({"metadata": TEMPLATE_METADATA, "spec": obj({
            "backoffLimit": INT32, "activeDeadlineSeconds": INT64, "ttlSecondsAfterFinished": INT32,
            "template": obj({"metadata": TEMPLATE_METADATA, "spec": obj({
                # A Job's pods may not restart in place (`Always`, the pod default, is refused).
                "restartPolicy": enum("OnFailure", "Never"),
                "containers": arr(CONTAINER, minItems=1),
                "serviceAccountName": STRING, "automountServiceAccountToken": BOOL,
            }, ["restartPolicy", "containers"])}, ["spec"]),
        }, ["template"])}, ["spec"]),
    }, ["schedule", "jobTemplate"]),
}, ["apiVersion", "kind", "metadata", "spec"])

BUILT_IN = {("v1", "Secret"): SECRET, ("batch/v1", "CronJob"): CRONJOB}


def crd_schemas(schema_dir):
    """(apiVersion, kind) -> openAPIV3Schema for every served version of the CRDs in schema_dir,
    with `metadata` checked as a manifest's metadata (the CRD leaves it to the server)."""
    schemas = {}
    for path in sorted(schema_dir.glob("*.yaml")):
        try:
            crds = load_documents(path.read_text())
        except yaml.YAMLError as problem:
            raise SchemaProblem(f"{path}: not valid YAML: {problem}") from problem
        for crd in crds:
            if crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if version.get("served"):
                    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                    schema["properties"]["metadata"] = METADATA
                    schema.setdefault("required", [])
                    schema["required"] += [k for k in ("apiVersion", "kind", "metadata") if k not in schema["required"]]
                    schemas[(f"{group}/{version['name']}", kind)] = schema
    if not schemas:
        raise SchemaProblem(f"no CustomResourceDefinition in {schema_dir}")
    return schemas


# ---------------------------------------------------------------------------------------------
# What ties the documents together, and to spin.toml.


def name_of(doc):
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def secret_values(doc):
    """A Secret's keys and values, `data` decoded (undecodable values are left out: the schema
    check has reported them)."""
    values = {}
    for key, text in (doc.get("data") or {}).items():
        try:
            values[key] = base64.b64decode(text, validate=True).decode()
        except (ValueError, TypeError):
            pass
    values.update(doc.get("stringData") or {})
    return values


def key_refs(value, path):
    """Every `secretKeyRef` under value, with its path."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "secretKeyRef" and isinstance(item, dict):
                yield f"{path}.{key}", item
            else:
                yield from key_refs(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from key_refs(item, f"{path}[{index}]")


def check_links(docs, manifest, errors):
    """`docs` are (file, document) pairs that passed their schemas; `manifest` is spin.toml."""
    secrets = {d["metadata"]["name"]: secret_values(d) for _, d in docs if d["kind"] == "Secret"}
    spinapps = [d for _, d in docs if d["kind"] == "SpinApp"]
    for file, doc in docs:
        where = f"{file}: {name_of(doc)}"
        for key in [*(doc.get("data") or {}), *(doc.get("stringData") or {})] if doc["kind"] == "Secret" else ():
            if not re.fullmatch(r"[-._a-zA-Z0-9]+", key):
                errors.append(f"{where}: key {key!r} is not a valid Secret key")
        for path, ref in key_refs(doc.get("spec"), ".spec"):
            if ref.get("optional"):
                continue
            if ref.get("name") not in secrets:
                errors.append(f"{where}: {path} names Secret {ref.get('name')!r}, which no manifest here defines")
            elif ref["key"] not in secrets[ref["name"]]:
                errors.append(f"{where}: {path}: Secret {ref['name']!r} has no key {ref['key']!r}")
        if doc["kind"] == "SpinApp":
            check_spinapp_links(where, doc, secrets, manifest, errors)
        if doc["kind"] == "CronJob":
            check_cronjob_links(where, doc, spinapps, errors)


def check_spinapp_links(where, doc, secrets, manifest, errors):
    spec = doc["spec"]
    source = (spec.get("runtimeConfig") or {}).get("loadFromSecret")
    if source is None:
        errors.append(f"{where}: .spec.runtimeConfig.loadFromSecret is not set: the default store would be SQLite in each pod")
    elif source not in secrets or "runtime-config.toml" not in secrets[source]:
        errors.append(f"{where}: .spec.runtimeConfig.loadFromSecret names {source!r}, but no Secret here has that name and a runtime-config.toml key")
    else:
        check_runtime_config(f"{where}: Secret {source!r} runtime-config.toml", secrets[source]["runtime-config.toml"], errors)

    components = manifest.get("component", {})
    kept = spec.get("components") or list(components)
    for name in kept:
        if name not in components:
            errors.append(f"{where}: .spec.components names {name!r}, which spin.toml does not define")
    triggers = {kind for kind, entries in manifest.get("trigger", {}).items()
                for entry in entries if entry.get("component") in kept}
    for kind in sorted(triggers - SHIM_TRIGGERS):
        errors.append(f"{where}: the components it runs ({', '.join(kept)}) have a {kind!r} trigger, which "
                      f"containerd-shim-spin does not run (it runs {', '.join(sorted(SHIM_TRIGGERS))}); "
                      "name the components to keep in .spec.components")

    declared = manifest.get("variables", {})
    used = set()
    for name in kept:
        for value in components.get(name, {}).get("variables", {}).values():
            used.update(re.findall(r"\{\{\s*([a-z0-9_]+)\s*\}\}", str(value)))
    given = {}
    for index, variable in enumerate(spec.get("variables", [])):
        name = variable["name"]
        path = f".spec.variables[{index}]"
        if name not in declared:
            errors.append(f"{where}: {path}: variable {name!r} is not declared in spin.toml's [variables]")
        elif name not in used:
            errors.append(f"{where}: {path}: variable {name!r} is used by none of the components it runs ({', '.join(kept)})")
        if name in given:
            errors.append(f"{where}: {path}: variable {name!r} is given twice")
        ref = (variable.get("valueFrom") or {}).get("secretKeyRef")
        given[name] = variable.get("value") if ref is None else secrets.get(ref.get("name"), {}).get(ref.get("key"))
    for name, declaration in declared.items():
        if declaration.get("required") and name in used and name not in given:
            errors.append(f"{where}: spin.toml requires variable {name!r}, which .spec.variables does not give")
    sweep, api = (given.get("sweep_token") or "").strip(), (given.get("api_token") or "").strip()
    if sweep and (sweep == api or len(sweep) < MIN_SWEEP_TOKEN_LEN):
        errors.append(f"{where}: sweep_token must differ from api_token and be at least {MIN_SWEEP_TOKEN_LEN} characters (Hookah refuses it otherwise)")


def check_runtime_config(where, text, errors):
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as problem:
        errors.append(f"{where}: not TOML: {problem}")
        return
    store = config.get("key_value_store", {}).get("default")
    if not isinstance(store, dict):
        errors.append(f"{where}: no [key_value_store.default]")
    elif store.get("type") != "redis":
        errors.append(f"{where}: [key_value_store.default] type is {store.get('type')!r}, not \"redis\": replicas would not share a store")
    elif not re.match(r"^rediss?://[^/\s]+", str(store.get("url", ""))):
        errors.append(f"{where}: [key_value_store.default] url {store.get('url')!r} is not a redis:// or rediss:// URL")


def check_cronjob_links(where, doc, spinapps, errors):
    schedule = doc["spec"]["schedule"].split()
    if not (schedule[:1] and schedule[0].startswith("@") and len(schedule) == 1) and (
            len(schedule) != 5 or not all(re.fullmatch(r"[0-9A-Za-z*/,?-]+", field) for field in schedule)):
        errors.append(f"{where}: .spec.schedule {doc['spec']['schedule']!r} is not a five-field cron expression")
    services = {app["metadata"]["name"] for app in spinapps}
    pod = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    for container in pod["containers"]:
        words = container.get("command", []) + container.get("args", [])
        urls = [word for word in words if SWEEP_ROUTE in word]
        for url in urls:
            host = re.match(r"^https?://([^/:]+)", url)
            if not host or host.group(1).split(".")[0] not in services:
                errors.append(f"{where}: {url!r} does not call the Service of a SpinApp defined here ({', '.join(sorted(services))})")
        if not urls:
            errors.append(f"{where}: container {container['name']!r} calls no {SWEEP_ROUTE}… URL")


# ---------------------------------------------------------------------------------------------


def read_folder(folder):
    """(file, document) pairs of every manifest in folder, and the errors of reading them."""
    docs, errors = [], []
    files = sorted(p for p in folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not files:
        errors.append(f"{folder}: no manifests")
    for path in files:
        try:
            docs += [(path.name, doc) for doc in load_documents(path.read_text())]
        except yaml.YAMLError as problem:
            errors.append(f"{path.name}: not valid YAML: {problem}")
    return docs, errors


def validate(docs, schemas, manifest):
    """The errors of a list of (file, document) pairs."""
    errors, good = [], []
    names = set()
    for file, doc in docs:
        if not isinstance(doc, dict):
            errors.append(f"{file}: a document is a {type_of(doc)}, not an object")
            continue
        key = (doc.get("apiVersion"), doc.get("kind"))
        schema = schemas.get(key) or BUILT_IN.get(key)
        if schema is None:
            errors.append(f"{file}: no schema for apiVersion {key[0]!r} kind {key[1]!r} "
                          f"(checked kinds: {', '.join(f'{v} {k}' for v, k in [*schemas, *BUILT_IN])})")
            continue
        found = check_quietly(doc, schema, "")
        errors += [f"{file}: {name_of(doc)}: {problem}" for problem in found]
        if not found:
            if (key, doc["metadata"]["name"]) in names:
                errors.append(f"{file}: {name_of(doc)} is defined twice")
            names.add((key, doc["metadata"]["name"]))
            good.append((file, doc))
    if not errors:
        check_links(good, manifest, errors)
    return errors


def self_test(docs, schemas, manifest):
    """Each case breaks a copy of the real manifests in one way and must be rejected with a
    message that names the fault; the real ones must pass. Returns the number of failures."""

    def spinapp(docs):
        return next(doc for _, doc in docs if doc["kind"] == "SpinApp")

    def secret(docs, name):
        return next(doc for _, doc in docs if doc["kind"] == "Secret" and doc["metadata"]["name"] == name)

    def cronjob(docs):
        return next(doc for _, doc in docs if doc["kind"] == "CronJob")

    def container(docs):
        return cronjob(docs)["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]

    runtime_secret = spinapp(docs)["spec"]["runtimeConfig"]["loadFromSecret"]
    variables_secret = spinapp(docs)["spec"]["variables"][0]["valueFrom"]["secretKeyRef"]["name"]
    cases = [
        # (what, change to a copy of the documents, a fragment the error must contain)
        ("an unknown field in a SpinApp's spec", lambda d: spinapp(d)["spec"].update(replica=3),
         ".spec.replica: unknown field (did you mean 'replicas'?)"),
        ("an unknown field deep in a SpinApp", lambda d: spinapp(d)["spec"]["variables"][0]["valueFrom"]["secretKeyRef"].update(nmae="x"),
         ".secretKeyRef.nmae: unknown field"),
        ("a probe field the CRD does not take", lambda d: spinapp(d)["spec"].update(checks={"readiness": {"httpGet": {"path": "/", "port": 80}}}),
         ".httpGet.port: unknown field"),
        ("a string for a SpinApp's integer", lambda d: spinapp(d)["spec"].update(replicas="3"),
         ".spec.replicas: expected integer, got string '3'"),
        ("a boolean for a SpinApp's integer", lambda d: spinapp(d)["spec"].update(replicas=True),
         ".spec.replicas: expected integer, got boolean"),
        ("an integer for a SpinApp's string", lambda d: spinapp(d)["spec"].update(executor=1),
         ".spec.executor: expected string, got integer"),
        ("replicas beyond int32", lambda d: spinapp(d)["spec"].update(replicas=2**31),
         "out of the int32 range"),
        ("a SpinApp without its required image", lambda d: spinapp(d)["spec"].pop("image"),
         ".spec.image: required field missing"),
        ("an empty value (null) in a SpinApp", lambda d: spinapp(d)["spec"].update(executor=None),
         ".spec.executor: null"),
        ("a SpinApp variable without its name", lambda d: spinapp(d)["spec"]["variables"][0].pop("name"),
         ".spec.variables[0].name: required field missing"),
        ("an empty list where the CRD wants one item", lambda d: spinapp(d)["spec"].update(components=[]),
         "at least 1 required"),
        ("a boolean where int-or-string is allowed", lambda d: spinapp(d)["spec"].update(resources={"limits": {"cpu": True}}),
         ".spec.resources.limits.cpu: expected an integer or a string"),
        ("a quantity that breaks the CRD's pattern", lambda d: spinapp(d)["spec"].update(resources={"limits": {"memory": "12 MB"}}),
         "does not match"),
        ("an object where the CRD wants a string", lambda d: spinapp(d)["spec"].update(image={"ref": "x"}),
         ".spec.image: expected string, got object"),
        ("a metadata.name Kubernetes refuses", lambda d: spinapp(d)["metadata"].update(name="Hookah_App"),
         ".metadata.name: 'Hookah_App' does not match"),
        ("a wrong apiVersion for a SpinApp", lambda d: spinapp(d).update(apiVersion="core.spinkube.dev/v1"),
         "no schema for apiVersion 'core.spinkube.dev/v1' kind 'SpinApp'"),
        ("a Secret value that is not a string", lambda d: secret(d, variables_secret)["stringData"].update(api_token=12345),
         ".stringData.api_token: expected string, got integer"),
        ("Secret data that is not base64", lambda d: secret(d, variables_secret).update(data={"x": "not base64!"}),
         ".data.x: not base64"),
        ("an unknown field in a Secret", lambda d: secret(d, variables_secret).update(strignData={}),
         ".strignData: unknown field (did you mean 'stringData'?)"),
        ("a CronJob without a schedule", lambda d: cronjob(d)["spec"].pop("schedule"),
         ".spec.schedule: required field missing"),
        ("a CronJob pod that restarts in place", lambda d: cronjob(d)["spec"]["jobTemplate"]["spec"]["template"]["spec"].update(restartPolicy="Always"),
         "'Always' is not one of"),
        ("an unknown field in a CronJob's container", lambda d: container(d).update(imag="x"),
         ".containers[0].imag: unknown field"),
        ("a cron expression with six fields", lambda d: cronjob(d)["spec"].update(schedule="* * * * * *"),
         "is not a five-field cron expression"),
        ("a runtime config on SQLite", lambda d: secret(d, runtime_secret)["stringData"].update({"runtime-config.toml": '[key_value_store.default]\ntype = "spin"\n'}),
         "not \"redis\""),
        ("a runtime config that is not TOML", lambda d: secret(d, runtime_secret)["stringData"].update({"runtime-config.toml": "[key_value_store.default\n"}),
         "not TOML"),
        ("a runtime config Secret that is missing", lambda d: spinapp(d)["spec"]["runtimeConfig"].update(loadFromSecret="nowhere"),
         "loadFromSecret names 'nowhere'"),
        ("a secretKeyRef to a missing key", lambda d: spinapp(d)["spec"]["variables"][0]["valueFrom"]["secretKeyRef"].update(key="api-token"),
         "has no key 'api-token'"),
        ("a variable spin.toml does not declare", lambda d: spinapp(d)["spec"]["variables"].append({"name": "api_tokn", "value": "x"}),
         "variable 'api_tokn' is not declared"),
        ("all components, the cron sweeper included", lambda d: spinapp(d)["spec"].pop("components"),
         "have a 'cron' trigger, which containerd-shim-spin does not run"),
        ("a component spin.toml does not define", lambda d: spinapp(d)["spec"].update(components=["hookah"]),
         "names 'hookah', which spin.toml does not define"),
        ("a sweep_token equal to api_token", lambda d: secret(d, variables_secret)["stringData"].update(api_token="s" * 20, sweep_token="s" * 20),
         "sweep_token must differ from api_token"),
        ("a CronJob calling another Service", lambda d: container(d).update(command=["curl", "http://other/_hookah/v1/sweep/$(SWEEP_TOKEN)"]),
         "does not call the Service of a SpinApp defined here"),
    ]
    failures = 0
    baseline = validate(docs, schemas, manifest)
    if baseline:
        print("FAIL the real manifests do not pass:\n  " + "\n  ".join(baseline))
        failures += 1
    for what, change, expected in cases:
        broken = copy.deepcopy(docs)
        change(broken)
        found = validate(broken, schemas, manifest)
        hit = [problem for problem in found if expected in problem]
        if hit:
            print(f"ok   rejected {what}: {hit[0]}")
        else:
            failures += 1
            print(f"FAIL not rejected as expected ({expected!r}): {what}; got {found or 'no error'}")
    yaml_cases = [("a duplicate key", "a: 1\na: 2\n", "duplicate key 'a'")]
    for what, text, expected in yaml_cases:
        try:
            load_documents(text)
            failures += 1
            print(f"FAIL not rejected: {what}")
        except yaml.YAMLError as problem:
            if expected in str(problem):
                print(f"ok   rejected {what}: {str(problem).splitlines()[0]}")
            else:
                failures += 1
                print(f"FAIL {what} rejected for another reason: {problem}")
    date = load_documents("d: 2026-12-07\n")[0]["d"]
    if date != "2026-12-07":
        failures += 1
        print(f"FAIL a date was read as {date!r}, not as the string Kubernetes sees")
    total = len(cases) + len(yaml_cases) + 2
    print(f"self-test: {total - failures} passed, {failures} failed")
    return failures


def main(argv):
    args = [arg for arg in argv if arg != "--self-test"]
    if len(args) > 1 or any(arg.startswith("-") for arg in args):
        sys.exit(__doc__)
    folder = pathlib.Path(args[0]) if args else ROOT / "deploy" / "spinkube"
    try:
        schemas = crd_schemas(folder / "schema")
        manifest = tomllib.loads((ROOT / "spin.toml").read_text())
        docs, errors = read_folder(folder)
        if "--self-test" in argv:
            if errors:
                print("\n".join(errors))
            return 1 if errors or self_test(docs, schemas, manifest) else 0
        errors += validate(docs, schemas, manifest)
    except SchemaProblem as problem:
        print(f"validate-deploy: cannot check: {problem}", file=sys.stderr)
        return 2
    if errors:
        print(f"{folder}: {len(errors)} violation(s):", file=sys.stderr)
        for problem in errors:
            print(f"  {problem}", file=sys.stderr)
        return 1
    for file, doc in docs:
        print(f"ok   {file}: {doc['apiVersion']} {name_of(doc)}")
    print(f"{folder}: {len(docs)} documents valid (SpinApp against {', '.join(p.name for p in sorted((folder / 'schema').glob('*.yaml')))}, strict)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
