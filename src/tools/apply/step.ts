/**
 * One change `node apply` may make. Planned from the node file and the node (reads only), then
 * run in order; `run` returns what it did, line by line, and throws (a ToolError) on failure,
 * having undone its own half (each step leaves its device as it was or as asked, never between).
 */
export interface Step {
  /** stable id: noiommu, vfs:<pf>, driver:<pci>, vdpa:<name>, device-plugin */
  id: string;
  /** what the node will have, e.g. "0000:00:06.0 on vfio-pci" */
  what: string;
  unchanged: boolean;
  /** the writes and commands it would make (the dry run prints them) */
  actions: string[];
  notes: string[];
  run?: () => Promise<string[]>;
}

export const unchanged = (id: string, what: string, notes: string[] = []): Step => ({ id, what, unchanged: true, actions: [], notes });
