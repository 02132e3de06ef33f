import yargs from 'yargs';

/** The human CLI (node tools). Loaded only when dpdk-cni runs without CNI_COMMAND. */
export async function runTool(argv: string[], version: string): Promise<number> {
  let code = 0;
  await yargs(argv)
    .scriptName('dpdk-cni')
    .usage('$0 — CNI plugin for DPDK, SR-IOV VF and vDPA devices\n\nAs a CNI plugin it is run by the container runtime or Multus with CNI_COMMAND set.\nRun by hand, it offers these node tools:')
    .command('version', 'print the version', () => {}, () => {
      process.stdout.write(`${version}\n`);
    })
    .version(version)
    .demandCommand(1, 'name a command, or run with CNI_COMMAND set as a CNI plugin')
    .strict()
    .fail((msg, err) => {
      process.stderr.write(`dpdk-cni: ${err?.message ?? msg}\nRun "dpdk-cni --help" for usage.\n`);
      code = 2;
    })
    .help()
    .parseAsync();
  return code;
}
