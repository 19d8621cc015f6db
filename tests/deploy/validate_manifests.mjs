// Checks Kubernetes manifests offline, as kubeconform -strict would:
//   node validate_manifests.mjs NODE_MODULES FILE.yaml...
// Each document is checked by kubernetes-models' validator for its kind
// (JSON schemas compiled from Kubernetes 1.27's OpenAPI, and from the
// prometheus-operator CRDs for ServiceMonitor): types, required fields,
// enums, formats. Those schemas allow unknown fields, which the API server
// drops or refuses; so every field is also looked up in the package's type
// declarations (generated from the same schemas), and one they do not name
// is an error. Prints one line per error; exit 1 if any.
import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

const [modules, ...files] = process.argv.slice(2);
const { parseAllDocuments } = await import(pathToFileURL(join(modules, "yaml/dist/index.js")));

// apiVersion + kind -> the model's declaration file, without its extension.
function modelPath(apiVersion, kind) {
  if (apiVersion.startsWith("monitoring.coreos.com/"))
    return join(modules, "@kubernetes-models/prometheus-operator", apiVersion, kind);
  return join(modules, "kubernetes-models", apiVersion, kind);
}

// A declaration file's first interface, as a type: {object: {field: type}},
// {array: type}, {map: type}, or {} (a leaf: string, number, a union).
const cache = new Map();
function declaredType(file) {
  if (cache.has(file)) return cache.get(file);
  const type = {};
  cache.set(file, type);
  if (!existsSync(file)) return type;
  const text = readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "");
  const imports = new Map();
  for (const m of text.matchAll(/import \{ (\w+) \} from "([^"]+)";/g)) {
    const from = m[2].startsWith(".") ? join(dirname(file), m[2].replace(/\.js$/, ".d.ts"))
                                      : join(modules, m[2] + ".d.ts");
    imports.set(m[1], from);
  }
  const start = text.search(/export interface I\w+( extends [\w, ]+)? \{/);
  if (start < 0) return type;
  const body = text.slice(text.indexOf("{", start));
  Object.assign(type, parseType(body, imports));
  return type;
}

// The text up to the ';' (or end) at nesting depth 0.
function untilSemicolon(text) {
  let depth = 0;
  for (let i = 0; i < text.length; ++i) {
    const c = text[i];
    if ("{<(".includes(c)) ++depth;
    if ("}>)".includes(c)) --depth;
    if (c === ";" && depth === 0) return text.slice(0, i);
  }
  return text;
}

function parseType(text, imports) {
  const t = text.trim();
  if (t.startsWith("Array<") && t.endsWith(">")) return { array: parseType(t.slice(6, -1), imports) };
  if (t.startsWith("{")) {
    const inner = t.slice(1, t.lastIndexOf("}"));
    const map = inner.match(/^\s*\[key: string\]:\s*/);
    if (map) return { map: parseType(untilSemicolon(inner.slice(map[0].length)), imports) };
    const object = {};
    for (let rest = inner; ;) {
      const m = rest.match(/^\s*"([^"]+)"\??:\s*/);
      if (!m) break;
      const type = untilSemicolon(rest.slice(m[0].length));
      object[m[1]] = parseType(type, imports);
      rest = rest.slice(m[0].length + type.length + 1);
    }
    return { object };
  }
  if (imports.has(t)) return { ref: imports.get(t) };
  return {};
}

function resolve(type) {
  return type.ref ? declaredType(type.ref) : type;
}

function unknownFields(value, type, path, errors) {
  type = resolve(type);
  if (value === null || typeof value !== "object") return;
  if (type.array && Array.isArray(value)) value.forEach((v, i) => unknownFields(v, type.array, `${path}/${i}`, errors));
  if (type.map) for (const [k, v] of Object.entries(value)) unknownFields(v, type.map, `${path}/${k}`, errors);
  if (type.object && !Array.isArray(value))
    for (const [k, v] of Object.entries(value)) {
      if (!(k in type.object)) errors.push(`${path}/${k}: unknown field "${k}"`);
      else unknownFields(v, type.object[k], `${path}/${k}`, errors);
    }
}

async function check(file, doc, index) {
  const where = `${file}: document ${index + 1}`;
  const object = doc.toJS();
  if (!object?.apiVersion || !object?.kind) return [`${where}: no apiVersion or kind`];
  const model = modelPath(object.apiVersion, object.kind);
  if (!existsSync(model + ".js")) return [`${where}: ${object.apiVersion} ${object.kind} is not a kind this check knows`];
  const Model = (await import(pathToFileURL(model + ".js")))[object.kind];
  const errors = [];
  try {
    new Model(object).validate();
  } catch (e) {
    errors.push(`${where} (${object.kind} ${object.metadata?.name}): ${e.message}`);
  }
  const unknown = [];
  unknownFields(object, declaredType(model + ".d.ts"), "", unknown);
  return errors.concat(unknown.map((u) => `${where} (${object.kind} ${object.metadata?.name}): ${u}`));
}

let failed = false;
for (const file of files) {
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  for (const [i, doc] of docs.entries()) {
    const errors = doc.errors.length ? doc.errors.map((e) => `${file}: ${e.message}`) : await check(file, doc, i);
    for (const e of errors) console.log(e);
    failed ||= errors.length > 0;
    if (!errors.length) console.log(`${file}: document ${i + 1} (${doc.get("kind")}): valid`);
  }
}
process.exit(failed ? 1 : 0);
