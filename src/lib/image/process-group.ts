// Ending a whole process group (the image tool and its helpers), politely then firmly.

export function killGroup(pgid: number | null | undefined, signal: NodeJS.Signals = 'SIGTERM'): void {
  if (!pgid) return;
  try { process.kill(-pgid, signal); } catch { /* already gone */ }
  setTimeout(() => { try { process.kill(-pgid, 'SIGKILL'); } catch { /* gone */ } }, 5000).unref();
}
