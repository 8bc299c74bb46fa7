// Checks deploy/k8s/*.yaml the way a cluster would before running them, without a cluster:
//  1. every object against the Kubernetes API schema (npm kubernetes-models, pinned in
//     package.json: its validate() is the OpenAPI schema compiled);
//  2. no field the API does not know (kubectl apply's strict field validation refuses them,
//     and the schema of 1. lets them through): the object is walked along the model's type
//     declarations;
//  3. what no schema sees: names that must agree between objects (volumes and their ConfigMaps
//     and Secrets, selectors and labels, ports, the autoscaler's target) and between the
//     manifests and mtlb.yaml (every file it names is a key of a mounted volume, listener and
//     admin ports, the grace period against preStop + shutdown_delay + drain).
// Usage: node validate.mjs [DIR]          (default: this file's directory)
//        node validate.mjs --self-test    (each check must refuse a broken copy)
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { dirname, join, basename, posix } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, parse as parseYaml } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
const models = join(here, "node_modules", "kubernetes-models");

// --- 1. schema -------------------------------------------------------------------------------
function modelDir(apiVersion) {
    const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : [null, apiVersion];
    return group ? `${group}/${version}` : version;
}

async function schemaErrors(doc) {
    const dir = modelDir(doc.apiVersion);
    const mod = await import(`kubernetes-models/${dir}`).catch(() => null);
    if (mod === null || typeof mod[doc.kind] !== "function") {
        return [`unknown apiVersion/kind ${doc.apiVersion} ${doc.kind}`];
    }
    try {
        new mod[doc.kind](doc).validate();
        return [];
    } catch (e) {
        return [e.message];
    }
}

// --- 2. unknown fields -------------------------------------------------------------------------
// The model's .d.ts: `export interface IName { "field"?: Type; ... }` with imports naming the
// file of each referenced type. Returns {field: {file, array}} for fields of an interface type.
const fieldCache = new Map();
function fieldsOf(file) {
    if (fieldCache.has(file)) {
        return fieldCache.get(file);
    }
    const src = readFileSync(file, "utf8");
    const imports = new Map();
    for (const m of src.matchAll(/import \{ ([\w, ]+) \} from "([^"]+)";/g)) {
        let target = m[2].startsWith(".")
            ? join(dirname(file), m[2])
            : join(here, "node_modules", m[2]);
        for (const name of m[1].split(",").map((s) => s.trim())) {
            imports.set(name, target + ".d.ts");
        }
    }
    const body = src.match(/export interface I\w+(?: extends [\w, ]+)? \{\n([\s\S]*?)\n\}/);
    let fields = null; // null: not an object type (a string alias such as Quantity)
    if (body) {
        fields = {};
        // Only the interface's own lines (4 spaces), not those inside an inline map type
        // (`"labels"?: {` then `[key: string]: string;`), which takes any key.
        for (const m of body[1].matchAll(/^ {4}"([^"]+)"\??: (.+?);?$/gm)) {
            const t = m[2].match(/^(Array<)?(I\w+)>?$/);
            fields[m[1]] = t && imports.has(t[2]) ? { file: imports.get(t[2]), array: !!t[1] } : {};
        }
        if (/extends TypeMeta/.test(body[0])) {
            fields.apiVersion = fields.apiVersion || {};
            fields.kind = fields.kind || {};
        }
    }
    fieldCache.set(file, fields);
    return fields;
}

function unknownFields(value, file, path, out) {
    const fields = fieldsOf(file);
    if (fields === null || value === null || typeof value !== "object" || Array.isArray(value)) {
        return;
    }
    for (const [k, v] of Object.entries(value)) {
        if (!(k in fields)) {
            out.push(`${path}.${k}: unknown field`);
        } else if (fields[k].file) {
            for (const [i, item] of (fields[k].array ? v || [] : [v]).entries()) {
                unknownFields(item, fields[k].file, fields[k].array ? `${path}.${k}[${i}]` : `${path}.${k}`, out);
            }
        }
    }
}

function fieldErrors(doc) {
    const file = join(models, modelDir(doc.apiVersion), `${doc.kind}.d.ts`);
    if (!existsSync(file)) {
        return [`no type declarations for ${doc.apiVersion} ${doc.kind}`];
    }
    const out = [];
    unknownFields(doc, file, doc.kind, out);
    return out;
}

// --- 3. consistency ----------------------------------------------------------------------------
function seconds(d) {
    if (typeof d === "number") {
        return d;
    }
    const m = String(d).match(/^(\d+)(ms|s|m|h)?$/);
    if (!m) {
        return NaN;
    }
    return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600, undefined: 1 }[m[2]];
}

function portOf(addr) {
    return Number(String(addr).replace(/^.*:/, ""));
}

function subset(a, b) {
    return Object.entries(a || {}).every(([k, v]) => b && b[k] === v);
}

function consistencyErrors(docs) {
    const err = [];
    const find = (kind, name) => docs.find((d) => d.kind === kind && d.metadata?.name === name);
    const deps = docs.filter((d) => d.kind === "Deployment");
    if (deps.length !== 1) {
        return [`expected one Deployment, found ${deps.length}`];
    }
    const dep = deps[0];
    const pod = dep.spec.template;
    const labels = pod.metadata?.labels;
    const c = pod.spec.containers.find((x) => x.name === "mtlb");
    if (!c) {
        return ["Deployment: no container named mtlb"];
    }
    if (!subset(dep.spec.selector.matchLabels, labels)) {
        err.push("Deployment: selector does not match the pod template's labels");
    }
    // Volumes: the ConfigMaps and Secrets exist; whole directories, so kubelet's updates reach
    // the files (a subPath mount is never updated, and reload.watch would wait for nothing).
    const vols = new Map();
    for (const v of pod.spec.volumes || []) {
        const [kind, name] = v.configMap ? ["ConfigMap", v.configMap.name] : v.secret ? ["Secret", v.secret.secretName] : [null, null];
        const obj = kind && find(kind, name);
        if (kind && !obj) {
            err.push(`volume ${v.name}: ${kind} ${name} is not in the manifests`);
        }
        vols.set(v.name, obj);
    }
    const mounts = [];
    for (const m of c.volumeMounts || []) {
        if (m.subPath || m.subPathExpr) {
            err.push(`volumeMount ${m.mountPath}: subPath mounts are never updated; mount the directory`);
        }
        if (!vols.has(m.name)) {
            err.push(`volumeMount ${m.mountPath}: no volume ${m.name}`);
        }
        mounts.push({ path: m.mountPath, obj: vols.get(m.name) });
    }
    const keysOf = (obj) => Object.keys({ ...obj?.data, ...obj?.stringData, ...obj?.binaryData });
    const fileIn = (p) => mounts.find((m) => posix.dirname(p) === m.path && keysOf(m.obj).includes(posix.basename(p)));
    // mtlb.yaml: the file given to -c is a key of a mounted ConfigMap.
    const args = c.args || [];
    const cfgPath = args[args.indexOf("-c") + 1];
    const cfgMount = cfgPath && fileIn(cfgPath);
    if (!cfgMount) {
        return err.concat([`mtlb -c ${cfgPath}: not a key of a mounted ConfigMap`]);
    }
    const cfg = parseYaml(cfgMount.obj.data[posix.basename(cfgPath)]);
    const files = [];
    for (const [i, l] of (cfg.listeners || []).entries()) {
        for (const [j, d] of (l.domains || []).entries()) {
            const at = `listeners[${i}].domains[${j}]`;
            files.push([`${at}.certificate`, d.certificate], [`${at}.key`, d.key]);
            files.push([`${at}.client_auth.truststore`, d.client_auth?.truststore], [`${at}.client_auth.crl`, d.client_auth?.crl]);
        }
        files.push([`listeners[${i}].tls.ticket_keys`, l.tls?.ticket_keys]);
    }
    files.push(["tls.ticket_keys", cfg.tls?.ticket_keys]);
    for (const [what, p] of files) {
        if (p !== undefined && !(p.startsWith("/") && fileIn(p))) {
            err.push(`mtlb.yaml ${what}: ${p} is not a key of a volume mounted at its directory`);
        }
    }
    // Ports: every listener is a container port; Prometheus scrapes one of them.
    const cports = new Map((c.ports || []).map((p) => [p.name, p.containerPort]));
    const listenPorts = (cfg.listeners || []).map((l) => portOf(l.bind));
    for (const p of listenPorts) {
        if (![...cports.values()].includes(p)) {
            err.push(`mtlb.yaml listener port ${p} is not a containerPort`);
        }
    }
    const ann = pod.metadata?.annotations || {};
    if (ann["prometheus.io/scrape"] === "true" && !listenPorts.includes(Number(ann["prometheus.io/port"]))) {
        err.push(`prometheus.io/port ${ann["prometheus.io/port"]} is no listener of mtlb.yaml`);
    }
    // Probes: mtlb health against the admin endpoint that mtlb.yaml binds.
    for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
        const cmd = c[probe]?.exec?.command || [];
        const url = cmd[2] || "";
        if (cmd[1] !== "health" || !cfg.admin?.bind || !url.startsWith(`http://${cfg.admin.bind}/`)) {
            err.push(`${probe}: expected mtlb health http://${cfg.admin?.bind}/..., got ${cmd.join(" ")}`);
        }
    }
    // Shutdown: preStop, then SIGTERM: shutdown_delay, then drain, all within the grace period.
    const need = (c.lifecycle?.preStop?.sleep?.seconds || 0) + seconds(cfg.timeouts?.shutdown_delay || 0) + seconds(cfg.timeouts?.drain ?? "10s");
    const grace = pod.spec.terminationGracePeriodSeconds ?? 30;
    if (!(grace > need)) {
        err.push(`terminationGracePeriodSeconds ${grace} must exceed preStop + shutdown_delay + drain = ${need}`);
    }
    // The hardening the image is built for.
    const sc = { ...pod.spec.securityContext, ...c.securityContext };
    if (!(sc.runAsNonRoot && sc.runAsUser === 65532 && sc.readOnlyRootFilesystem && sc.allowPrivilegeEscalation === false && (sc.capabilities?.drop || []).includes("ALL"))) {
        err.push("securityContext: runAsNonRoot, runAsUser 65532, readOnlyRootFilesystem, allowPrivilegeEscalation false and drop ALL are all required");
    }
    // The image of this release (scripts/build-image tags localhost/mtlb:VERSION).
    const meson = readFileSync(join(here, "..", "..", "meson.build"), "utf8");
    const version = meson.match(/^\s*version:\s*'([^']+)'/m)?.[1];
    if (!c.image.endsWith(`/mtlb:${version}`)) {
        err.push(`container image ${c.image}: expected .../mtlb:${version} (meson.build's version)`);
    }
    if (!c.resources?.requests?.cpu || !c.resources?.limits?.memory) {
        err.push("resources: cpu request (the autoscaler's base) and memory limit required");
    }
    for (const d of docs) {
        if (d.kind === "Service" || d.kind === "PodDisruptionBudget") {
            const sel = d.kind === "Service" ? d.spec.selector : d.spec.selector?.matchLabels;
            if (!sel || !subset(sel, labels)) {
                err.push(`${d.kind} ${d.metadata.name}: selector does not match the pods`);
            }
        }
        if (d.kind === "Service") {
            for (const p of d.spec.ports) {
                if (!(cports.has(p.targetPort) || [...cports.values()].includes(p.targetPort))) {
                    err.push(`Service port ${p.port}: targetPort ${p.targetPort} is not a container port`);
                }
            }
        }
        if (d.kind === "HorizontalPodAutoscaler") {
            const t = d.spec.scaleTargetRef;
            if (t.kind !== "Deployment" || t.name !== dep.metadata.name) {
                err.push(`HorizontalPodAutoscaler: target ${t.kind}/${t.name} is not the Deployment`);
            }
        }
    }
    return err;
}

// --- running -----------------------------------------------------------------------------------
function load(dir) {
    const docs = [];
    for (const f of readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort()) {
        for (const d of parseAllDocuments(readFileSync(join(dir, f), "utf8"))) {
            if (d.errors.length) {
                throw new Error(`${f}: ${d.errors[0].message}`);
            }
            const obj = d.toJS();
            if (obj) {
                docs.push({ file: f, obj });
            }
        }
    }
    return docs;
}

async function check(docs) {
    const errs = [];
    for (const { file, obj } of docs) {
        for (const e of [...(await schemaErrors(obj)), ...fieldErrors(obj)]) {
            errs.push(`${file}: ${obj.kind} ${obj.metadata?.name}: ${e}`);
        }
    }
    for (const e of consistencyErrors(docs.map((d) => d.obj))) {
        errs.push(e);
    }
    return errs;
}

// Each mutation breaks one rule; the check must refuse every one of them.
const mutations = {
    "unknown field (a typo)": (o) => o.kind === "Deployment" && (o.spec.template.spec.containers[0].readinesProbe = {}),
    "wrong type": (o) => o.kind === "Deployment" && (o.spec.replicas = "two"),
    "unknown field in a nested object": (o) => o.kind === "Deployment" && (o.spec.template.spec.securityContext.runAsNonroot = true),
    "grace period too short": (o) => o.kind === "Deployment" && (o.spec.template.spec.terminationGracePeriodSeconds = 20),
    "Secret name mismatch": (o) => o.kind === "Secret" && o.metadata.name === "mtlb-server-tls" && (o.metadata.name = "mtlb-server-cert"),
    "subPath mount": (o) => o.kind === "Deployment" && (o.spec.template.spec.containers[0].volumeMounts[0].subPath = "mtlb.yaml"),
    "config names a file no volume holds": (o) => o.kind === "ConfigMap" && o.data["mtlb.yaml"] && (o.data["mtlb.yaml"] = o.data["mtlb.yaml"].replace("/run/mtlb/trust/clients.crl", "/run/mtlb/trust/crl.pem")),
    "Service selector mismatch": (o) => o.kind === "Service" && (o.spec.selector = { app: "other" }),
    "image of another version": (o) => o.kind === "Deployment" && (o.spec.template.spec.containers[0].image = "localhost/mtlb:0.0.9"),
    "privilege escalation allowed": (o) => o.kind === "Deployment" && (o.spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation = true),
};

const arg = process.argv[2];
if (arg === "--self-test") {
    const base = load(here);
    let bad = (await check(structuredClone(base))).length ? 1 : 0;
    if (bad) {
        console.log("FAIL self-test: the manifests themselves do not pass");
    }
    for (const [name, mutate] of Object.entries(mutations)) {
        const docs = structuredClone(base);
        const hit = docs.filter((d) => mutate(d.obj)).length;
        const errs = hit ? await check(docs) : [];
        if (hit === 0 || errs.length === 0) {
            console.log(`FAIL self-test: ${name}: ${hit ? "accepted" : "mutation matched nothing"}`);
            bad++;
        } else {
            console.log(`ok   self-test: ${name}: refused (${errs[0]})`);
        }
    }
    process.exit(bad ? 1 : 0);
}
const dir = arg || here;
const docs = load(dir);
const errs = await check(docs);
for (const e of errs) {
    console.log(`FAIL ${e}`);
}
const version = JSON.parse(readFileSync(join(models, "package.json"), "utf8")).version;
console.log(`${errs.length ? "FAIL" : "ok  "} ${docs.length} objects in ${basename(dir)}/ (${docs.map((d) => d.obj.kind).join(", ")}); kubernetes-models ${version}`);
process.exit(errs.length ? 1 : 0);
