// Makes the input of `podman kube play` (scripts/test-image) from deploy/k8s: the Deployment's
// pod spec as it is, the ConfigMaps with test data, and the Secrets as files:
//   - mtlb.yaml keeps every line but the app backend's servers (the test's mtlb-echo
//     backends);
//   - every other ConfigMap or Secret key gets the test file named in TEST_FILES (a key with no
//     test file is an error, so a manifest change cannot go untested);
//   - podman 4.3 (Debian 12) writes a Secret volume's files base64-encoded (fixed in podman
//     4.4), so each secret volume becomes a hostPath volume of the decoded files: the mounts,
//     their paths and the rest of the pod spec stay as written;
//   - podman 4.3 publishes every containerPort on the host (hostPort defaults to it, which
//     Kubernetes never does) and refuses port mappings in a network namespace of the test's
//     own: the ports list is dropped (in the pod's network every port is reachable anyway);
//   - one replica: podman runs each replica as a pod, and the pods here share the test's one
//     network namespace, where a second mtlb could not bind the same port.
// Writes OUT/play.yaml, OUT/secret/NAME/KEY, OUT/cm/NAME/KEY and OUT/mounts (one
// "HOSTDIR CONTAINERDIR" line per volume mount, for running mtlb -t with the same files).
// Usage: node kube-play.mjs --out DIR --pki DIR --ticket-keys FILE --backends H:P,H:P
//                           [--image REF]
import { readFileSync, writeFileSync, mkdirSync, readdirSync, chmodSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, parseDocument, stringify } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
const opt = {};
for (let i = 2; i < process.argv.length; i++) {
    const k = process.argv[i].replace(/^--/, "");
    opt[k] = process.argv[++i];
}
for (const k of ["out", "pki", "ticket-keys", "backends"]) {
    if (!opt[k]) {
        console.error(`kube-play.mjs: --${k} is required`);
        process.exit(2);
    }
}

// Test content for each key of the manifests' ConfigMaps and Secrets (mtlb.yaml aside).
const TEST_FILES = {
    "tls.crt": join(opt.pki, "server/api.crt"),
    "tls.key": join(opt.pki, "server/api.key"),
    "clients.pem": join(opt.pki, "trust/full.pem"),
    "clients.crl": join(opt.pki, "ca/crl.pem"),
    "scrapers.pem": join(opt.pki, "trust/full.pem"),
    "ticket.keys": opt["ticket-keys"],
};

const docs = [];
for (const f of readdirSync(here).filter((f) => f.endsWith(".yaml")).sort()) {
    for (const d of parseAllDocuments(readFileSync(join(here, f), "utf8"))) {
        const o = d.toJS();
        if (o) {
            docs.push(o);
        }
    }
}

function testConfig(text) {
    const doc = parseDocument(text);
    const backends = doc.get("backends");
    const app = backends.items.findIndex((b) => b.get("name") === "app");
    if (app < 0) {
        throw new Error("mtlb.yaml: no backend named app");
    }
    doc.setIn(["backends", app, "servers"], opt.backends.split(","));
    return String(doc);
}

function writeFiles(dir, files) {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    chmodSync(dir, 0o755);
    for (const [k, v] of Object.entries(files)) {
        // Readable by the container's user (65532): the test keys are throwaway.
        writeFileSync(join(dir, k), v, { mode: 0o644 });
        chmodSync(join(dir, k), 0o644);
    }
}

const out = opt.out;
const content = new Map(); // "Kind/name" -> {key: Buffer|string}
for (const o of docs.filter((o) => o.kind === "ConfigMap" || o.kind === "Secret")) {
    const files = {};
    for (const k of Object.keys({ ...o.data, ...o.stringData, ...o.binaryData })) {
        if (k === "mtlb.yaml") {
            files[k] = testConfig(o.data[k]);
        } else if (TEST_FILES[k]) {
            files[k] = readFileSync(TEST_FILES[k]);
        } else {
            throw new Error(`${o.kind} ${o.metadata.name}: no test file for key ${k} (kube-play.mjs TEST_FILES)`);
        }
    }
    content.set(`${o.kind}/${o.metadata.name}`, files);
    writeFiles(join(out, o.kind === "Secret" ? "secret" : "cm", o.metadata.name), files);
}

const dep = structuredClone(docs.find((o) => o.kind === "Deployment"));
dep.spec.replicas = 1;
const pod = dep.spec.template.spec;
const hostDir = new Map();
pod.volumes = pod.volumes.map((v) => {
    if (v.secret) {
        const dir = join(out, "secret", v.secret.secretName);
        hostDir.set(v.name, dir);
        return { name: v.name, hostPath: { path: dir, type: "Directory" } };
    }
    if (v.configMap) {
        hostDir.set(v.name, join(out, "cm", v.configMap.name));
    }
    return v;
});
for (const c of pod.containers) {
    delete c.ports;
    if (opt.image) {
        c.image = opt.image;
    }
}
const mounts = pod.containers[0].volumeMounts.map((m) => `${hostDir.get(m.name)} ${m.mountPath}`);
writeFileSync(join(out, "mounts"), mounts.join("\n") + "\n");

const play = docs
    .filter((o) => o.kind === "ConfigMap")
    .map((o) => {
        const files = content.get(`ConfigMap/${o.metadata.name}`);
        const data = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, String(v)]));
        return { apiVersion: "v1", kind: "ConfigMap", metadata: o.metadata, data };
    });
play.push(dep);
writeFileSync(join(out, "play.yaml"), play.map((o) => stringify(o)).join("---\n"));
console.log(`kube-play.mjs: ${join(out, "play.yaml")}: ${play.map((o) => `${o.kind} ${o.metadata.name}`).join(", ")}`);
