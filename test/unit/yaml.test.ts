import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cni.js';
import { loadYaml, parseYaml, repoYamlFiles, typeCheck, validateNadConfig, validateRuntime, type Doc } from '../helpers/k8s.js';

/** Every YAML file in the repo is a valid Kubernetes manifest: no typo reaches a user's cluster. */
const files = repoYamlFiles();
const docs = files.flatMap(loadYaml);
const byKind = (kind: string) => docs.filter((d) => d.obj.kind === kind);
const one = (kind: string, name?: string): Doc => {
  const d = docs.find((x) => x.obj.kind === kind && (!name || x.obj.metadata?.name === name));
  if (!d) throw new Error(`no ${kind} ${name ?? ''}`);
  return structuredClone(d);
};

describe('the repo\'s YAML', () => {
  it('includes the DaemonSet and the NetworkAttachmentDefinitions (the walk finds them)', () => {
    const rel = files.map((f) => f.slice(REPO.length + 1));
    expect(rel).toContain('install-daemonset.yaml');
    expect(rel.filter((f) => f.startsWith('netattach/')).length).toBeGreaterThanOrEqual(5);
    expect(byKind('NetworkAttachmentDefinition').length).toBeGreaterThanOrEqual(5);
  });

  it('passes kubernetes-models validation (types, enums, required fields), NADs their CRD shape', async () => {
    const problems = (await Promise.all(docs.map(validateRuntime))).flat();
    expect(problems).toEqual([]);
  });

  it('type-checks against the Kubernetes interfaces: no unknown field anywhere', () => {
    expect(typeCheck(docs)).toEqual([]);
  }, 60_000);

  it('NAD configs are dpdk-cni configurations the plugin accepts, every field known to it', async () => {
    const problems = (await Promise.all(byKind('NetworkAttachmentDefinition').map(validateNadConfig))).flat();
    expect(problems).toEqual([]);
  });
});

describe('the checks catch mistakes', () => {
  it('a misspelt field deep in a DaemonSet or a Pod fails the type check, naming the field', () => {
    const ds = one('DaemonSet');
    const c = ds.obj.spec.template.spec.containers[0];
    c.securityContext.readOnlyRootFileSystem = c.securityContext.readOnlyRootFilesystem; // wrong case
    delete c.securityContext.readOnlyRootFilesystem;
    const pod = one('Pod');
    pod.obj.spec.containers[0].resorces = pod.obj.spec.containers[0].resources;
    delete pod.obj.spec.containers[0].resources;
    const ds2 = one('DaemonSet');
    ds2.obj.spec.template.spec.nodeselector = ds2.obj.spec.template.spec.nodeSelector;
    delete ds2.obj.spec.template.spec.nodeSelector;
    const problems = typeCheck([ds, pod, ds2]);
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/DaemonSet.*readOnlyRootFileSystem/);
    expect(problems[1]).toMatch(/Pod.*resorces/);
    expect(problems[2]).toMatch(/nodeselector/);
  }, 60_000);

  it('a wrong type or enum value fails kubernetes-models validation', async () => {
    const ds = one('DaemonSet');
    ds.obj.spec.template.spec.containers[0].imagePullPolicy = 'Sometimes';
    const pod = one('Pod');
    pod.obj.spec.containers[0].securityContext.capabilities.add = 'IPC_LOCK'; // must be a list
    expect((await validateRuntime(ds)).join()).toMatch(/imagePullPolicy/);
    expect((await validateRuntime(pod)).join()).toMatch(/capabilities\/add/);
  });

  it('a NAD with a misspelt spec field, a non-JSON config or a misspelt config field fails', async () => {
    const base = one('NetworkAttachmentDefinition', 'dpdk-vf');
    const a = structuredClone(base);
    a.obj.spec.confg = a.obj.spec.config;
    delete a.obj.spec.config;
    expect((await validateRuntime(a)).join('\n')).toMatch(/unknown field spec\.confg[\s\S]*spec\.config must be a string/);

    const b = structuredClone(base);
    b.obj.spec.config = b.obj.spec.config.replace(/}\s*$/, ',}');
    expect((await validateRuntime(b)).join()).toMatch(/spec\.config is not JSON/);

    const c = structuredClone(base);
    c.obj.spec.config = c.obj.spec.config.replace('"vlanQoS"', '"vlanQos"');
    expect((await validateNadConfig(c)).join()).toMatch(/unknown field "vlanQos"/);

    const d = structuredClone(base);
    d.obj.spec.config = d.obj.spec.config.replace('"vlan": 100', '"vlan": 5000');
    expect((await validateNadConfig(d)).join()).toMatch(/the plugin refuses spec\.config.*vlan/);

    const e = structuredClone(base);
    e.obj.metadata.nmae = 'x';
    expect(typeCheck([e]).join()).toMatch(/nmae/);
  });

  it('YAML syntax errors and duplicate keys are refused', () => {
    expect(() => parseYaml('a: 1\na: 2\n', 'dup.yaml')).toThrow(/dup\.yaml.*[Mm]ap keys must be unique/);
    expect(() => parseYaml('a: [1, 2\n', 'bad.yaml')).toThrow(/bad\.yaml/);
  });
});
