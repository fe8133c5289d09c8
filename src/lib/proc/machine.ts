// The machine (uname -m) whose images this host builds. DARKFORGE_TEST_MACHINE stands in for it in
// the tests only, which simulate a worker of another arch (ppc64le on x86_64) in a network
// namespace with stand-in tools: it is not a way to build foreign images (that needs a machine, or
// a VM, of that arch), and darkforge says so on stderr whenever it is set.
import { machine } from 'node:os';

export const TEST_MACHINE_ENV = 'DARKFORGE_TEST_MACHINE';

export function hostMachine(env: NodeJS.ProcessEnv = process.env): string {
  return env[TEST_MACHINE_ENV] || machine();
}

/** The warning a command prints when the test knob is set, so it never goes unnoticed. */
export function testMachineWarning(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const m = env[TEST_MACHINE_ENV];
  return m ? `${TEST_MACHINE_ENV}=${m}: this host is taken to be a ${m} machine (a test setting, not a way to build foreign images)` : undefined;
}
