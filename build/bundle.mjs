#!/usr/bin/env node
// Bundle src/ into one CommonJS file per variant with esbuild:
//   dist/dpdk-cni            the plugin (production: test hooks compiled out)
//   dist/test/dpdk-cni       the same with the crash-test hooks (test/reliability only)
//   dist/sim/simnode.mjs     the simulated node (src/sim/simnode.ts) as an ES module, for the Node
//                            scripts in demo/, bench/ and build/ (they cannot import .ts; tests can)
// CJS because Node's single-executable mode runs CommonJS; yargs reads import.meta.url, which
// esbuild would silently turn into undefined in CJS, hence the shim.
//
// The Node SEA (bench/sea/build.mjs, measurement only) bundles differently: `cliChunk` leaves the human CLI
// (src/tools/cli/tool.ts: yargs, pino, the node tools) out of the CNI bundle and makes it a chunk of its
// own (bundleChunk), loaded from a SEA asset only when there is no CNI_COMMAND.
import { build } from 'esbuild';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** The import of ./tools/cli/tool.js in src/main.ts, answered by src/sea/cli-asset.ts instead. */
const cliFromAsset = {
  name: 'cli-from-sea-asset',
  setup(b) {
    b.onResolve({ filter: /\/cli\/tool\.js$/ }, (a) => (a.importer.endsWith(join('src', 'main.ts')) ? { path: join(root, 'src/sea/cli-asset.ts') } : undefined));
  },
};

export async function bundle({ outfile, testHooks, shebang = true, cliChunk = false, entry = 'src/entry.ts' }) {
  mkdirSync(dirname(outfile), { recursive: true });
  await build({
    entryPoints: [join(root, entry)],
    plugins: cliChunk ? [cliFromAsset] : [],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    keepNames: false,
    legalComments: 'none',
    outfile,
    define: {
      'import.meta.url': '__importMetaUrl',
      __VERSION__: JSON.stringify(pkg.version),
      __TEST_HOOKS__: testHooks ? 'true' : 'false',
    },
    banner: {
      js: `${shebang ? '#!/usr/bin/env node\n' : ''}const __importMetaUrl = require('url').pathToFileURL(__filename).href;`,
    },
    logLevel: 'warning',
  });
  chmodSync(outfile, 0o755);
  // The file has no extension: without this, Node would take the repo's "type": "module" for it.
  writeFileSync(join(dirname(outfile), 'package.json'), '{"type":"commonjs"}\n');
}

/** The simulated node as one ES module: no bundling (node: imports only), not minified, readable. */
export async function bundleSim({ outfile = join(root, 'dist/sim/simnode.mjs') } = {}) {
  mkdirSync(dirname(outfile), { recursive: true });
  await build({
    entryPoints: [join(root, 'src/sim/simnode.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    legalComments: 'none',
    outfile,
    logLevel: 'warning',
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await bundle({ outfile: join(root, 'dist/dpdk-cni'), testHooks: false });
  await bundle({ outfile: join(root, 'dist/test/dpdk-cni'), testHooks: true });
  await bundleSim();
}
