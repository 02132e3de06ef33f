import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import { REPO } from './cni.js';

/**
 * Kubernetes YAML checks for the repo's manifests: every document is validated with
 * kubernetes-models (types, enums, required fields, formats) AND type-checked against its
 * TypeScript interface, because the JSON-schema validators accept unknown fields — a typo such as
 * `resorces:` would otherwise pass. NetworkAttachmentDefinition is a CRD kubernetes-models does not
 * know: its shape is checked here, and its spec.config against the plugin's own schema.
 */

export interface Doc {
  file: string; // relative to the repo
  index: number;
  obj: any;
}

const SKIP_DIRS = new Set(['node_modules', 'dist', '.git', 'coverage', '.cache']);

export function repoYamlFiles(dir = REPO): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name)) out.push(...repoYamlFiles(join(dir, e.name)));
    } else if (/\.ya?ml$/.test(e.name)) {
      out.push(join(dir, e.name));
    }
  }
  return out.sort();
}

/** Parse a multi-document YAML file; syntax errors and duplicate keys throw. */
export function parseYaml(text: string, file: string): Doc[] {
  return parseAllDocuments(text, { uniqueKeys: true, prettyErrors: true })
    .map((d, index) => {
      if (d.errors.length > 0) throw new Error(`${file} document ${index}: ${d.errors.map((e) => e.message).join('; ')}`);
      return { file, index, obj: d.toJS() as unknown };
    })
    .filter((d) => d.obj !== null && d.obj !== undefined);
}

export function loadYaml(path: string): Doc[] {
  return parseYaml(readFileSync(path, 'utf8'), relative(REPO, path));
}

export const NAD_API = 'k8s.cni.cncf.io/v1';
export const NAD_KIND = 'NetworkAttachmentDefinition';
const isNad = (o: any) => o?.apiVersion === NAD_API && o?.kind === NAD_KIND;

/** The API groups the repo's manifests use, with their kubernetes-models modules. */
const GROUPS: Record<string, () => Promise<Record<string, any>>> = {
  v1: () => import('kubernetes-models/v1'),
  'apps/v1': () => import('kubernetes-models/apps/v1'),
  'rbac.authorization.k8s.io/v1': () => import('kubernetes-models/rbac.authorization.k8s.io/v1'),
  'scheduling.k8s.io/v1': () => import('kubernetes-models/scheduling.k8s.io/v1'),
};

const where = (d: Doc) => `${d.file}#${d.index} (${d.obj?.kind ?? '?'} ${d.obj?.metadata?.name ?? '?'})`;

/** kubernetes-models' runtime validation (or the NAD shape check). Returns problems. */
export async function validateRuntime(doc: Doc): Promise<string[]> {
  const o = doc.obj;
  if (!o || typeof o !== 'object' || typeof o.apiVersion !== 'string' || typeof o.kind !== 'string') {
    return [`${where(doc)}: not a Kubernetes object (no apiVersion/kind)`];
  }
  if (isNad(o)) return validateNad(doc);
  const load = GROUPS[o.apiVersion];
  if (!load) return [`${where(doc)}: apiVersion ${o.apiVersion} is not in test/helpers/k8s.ts GROUPS: add its kubernetes-models module`];
  const mod = await load();
  const Model = mod[o.kind];
  if (typeof Model !== 'function') return [`${where(doc)}: unknown kind ${o.kind} in ${o.apiVersion}`];
  try {
    new Model(structuredClone(o)).validate();
    return [];
  } catch (e) {
    return [`${where(doc)}: ${(e as Error).message}`];
  }
}

async function validateNad(doc: Doc): Promise<string[]> {
  const o = doc.obj;
  const errs: string[] = [];
  const extra = (obj: Record<string, unknown>, allowed: string[], at: string) => {
    for (const k of Object.keys(obj ?? {})) if (!allowed.includes(k)) errs.push(`${where(doc)}: unknown field ${at}${k}`);
  };
  extra(o, ['apiVersion', 'kind', 'metadata', 'spec'], '');
  const { ObjectMeta } = await import('@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta');
  try {
    new ObjectMeta(structuredClone(o.metadata ?? {})).validate();
  } catch (e) {
    errs.push(`${where(doc)}: metadata: ${(e as Error).message}`);
  }
  if (typeof o.metadata?.name !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(o.metadata.name)) {
    errs.push(`${where(doc)}: metadata.name must be a DNS-1123 label`);
  }
  if (!o.spec || typeof o.spec !== 'object') {
    errs.push(`${where(doc)}: spec is missing`);
    return errs;
  }
  extra(o.spec, ['config'], 'spec.');
  if (typeof o.spec.config !== 'string') {
    errs.push(`${where(doc)}: spec.config must be a string holding the CNI configuration JSON`);
    return errs;
  }
  try {
    JSON.parse(o.spec.config);
  } catch (e) {
    errs.push(`${where(doc)}: spec.config is not JSON: ${(e as Error).message}`);
  }
  return errs;
}

/** Keys a dpdk-cni netconf may carry besides the plugin's schema (set by users or callers). */
export const CALLER_KEYS = ['capabilities'];

/** A NAD's config as the plugin reads it: parsed, every key known, and accepted by loadNetConf. */
export async function validateNadConfig(doc: Doc): Promise<string[]> {
  const errs: string[] = [];
  let conf: Record<string, unknown>;
  try {
    conf = JSON.parse(doc.obj.spec.config);
  } catch {
    return [`${where(doc)}: spec.config is not JSON`];
  }
  const { netConfSchema, loadNetConf } = await import('../../src/config/netconf.js');
  const known = new Set([...Object.keys(netConfSchema.def.shape), ...CALLER_KEYS]);
  for (const k of Object.keys(conf)) {
    // the plugin ignores unknown keys (callers add their own), so a misspelt field would be lost
    if (!known.has(k)) errs.push(`${where(doc)}: spec.config has unknown field "${k}"`);
  }
  if (conf.type !== 'dpdk-cni') errs.push(`${where(doc)}: spec.config "type" must be "dpdk-cni"`);
  if (conf.name !== undefined && conf.name !== doc.obj.metadata?.name) errs.push(`${where(doc)}: spec.config "name" differs from metadata.name`);
  try {
    loadNetConf(JSON.stringify({ name: doc.obj.metadata?.name, ...conf }));
  } catch (e) {
    errs.push(`${where(doc)}: the plugin refuses spec.config: ${(e as Error).message}`);
  }
  return errs;
}

/**
 * Type-check documents against kubernetes-models' TypeScript interfaces (excess-property checks
 * catch misspelt field names at any depth). One program for all documents; returns problems.
 */
export function typeCheck(docs: Doc[]): string[] {
  const lines: string[] = [
    "import type { IIoK8sApimachineryPkgApisMetaV1ObjectMeta as ObjectMeta } from '@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta';",
    "interface NetworkAttachmentDefinition { apiVersion: 'k8s.cni.cncf.io/v1'; kind: 'NetworkAttachmentDefinition'; metadata: ObjectMeta; spec: { config: string } }",
  ];
  const names: string[] = [];
  docs.forEach((d, i) => {
    const o = d.obj;
    let type: string;
    if (isNad(o)) {
      type = 'NetworkAttachmentDefinition';
    } else {
      type = `T${i}`;
      lines.push(`import type { I${o.kind} as T${i} } from 'kubernetes-models/${o.apiVersion}/${o.kind}';`);
    }
    names.push(where(d));
    lines.push(`export const doc${i}: ${type} = ${JSON.stringify(o)};`);
  });
  const file = join(REPO, 'test', '__k8s_yaml_check__.ts');
  const text = lines.join('\n');
  const options: ts.CompilerOptions = {
    strict: true, noEmit: true, skipLibCheck: true, target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (f, lang, ...rest) => (f === file ? ts.createSourceFile(f, text, lang) : getSourceFile(f, lang, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (f) => f === file || fileExists(f);
  const readFile = host.readFile.bind(host);
  host.readFile = (f) => (f === file ? text : readFile(f));
  const program = ts.createProgram([file], options, host);
  const sf = program.getSourceFile(file);
  if (!sf) throw new Error('the virtual type-check file was not loaded');
  return ts.getPreEmitDiagnostics(program, sf).map((dg) => {
    const msg = ts.flattenDiagnosticMessageText(dg.messageText, '\n');
    let label = '';
    if (dg.file === sf && dg.start !== undefined) {
      const line = sf.getLineAndCharacterOfPosition(dg.start).line;
      const m = /^export const doc(\d+)/.exec(lines[line] ?? '');
      if (m) label = `${names[Number(m[1])]}: `;
    }
    return `${label}${msg}`;
  });
}
