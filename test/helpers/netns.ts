// Several machines on one test host, for the tests of workers that meet only in PostgreSQL (and
// at the Koji hub): each "machine" is a network namespace with a veth link to a bridge on the
// host, its own address on a private /24, lo up, and a UTS namespace of its own, so that its
// processes see their own host name (hostname(2), which darkforge records as a job's and a
// claim's host). Processes run inside with `ip netns exec NS nsenter --uts=FILE -- argv…`
// (argument arrays, no shell). A machine's link can be cut (its host-side veth down, as a pulled
// cable; or every packet to it dropped, as behind a dead router) and restored. Servers for the machines (PostgreSQL, the fake
// Koji hub) listen on the bridge's address, `lab.hostAddress`.
//
// Everything made is removed by lab.cleanup() (call it in an after hook), and also when the test
// process exits, whatever the outcome; labs left by a test process that died (kill -9) are
// removed by the next startNetLab. Needs root and iproute2 with `ip netns`; netnsSkip() says why
// not, for { skip } (CI runs as root). Reusable by any test that needs machines: the image
// worker tests, a later import-worker test.
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive as alive } from '../../src/lib/proc/alive.ts';

const RUN_DIR = '/run/darkforge-test-netns';
const PREFIX = 'dfl';

function sh(argv: string[], o: { quiet?: boolean } = {}): string {
  try {
    return execFileSync(argv[0], argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    if (o.quiet) return '';
    const err = e as { stderr?: string; message: string };
    throw new Error(`${argv.join(' ')}: ${(err.stderr ?? err.message).trim()}`);
  }
}

let skipReason: string | undefined | null = null;

/** Why machines cannot be made here (for `{ skip }`), or undefined when they can. */
export function netnsSkip(): string | undefined {
  if (skipReason !== null) return skipReason;
  skipReason = (() => {
    if (process.platform !== 'linux') return 'network namespaces need Linux';
    if (process.getuid?.() !== 0) return 'network namespaces need root (CI runs the tests as root)';
    const dirs = (process.env.PATH ?? '').split(':').filter(Boolean);
    for (const tool of ['ip', 'nsenter', 'unshare', 'umount']) {
      if (!dirs.some((d) => existsSync(join(d, tool)))) return `${tool} is not installed (iproute2, util-linux)`;
    }
    // A probe namespace: `ip netns` works, and veth and bridge links can be made.
    const probe = `${PREFIX}-probe-${process.pid}`;
    try {
      sh(['ip', 'netns', 'add', probe]);
      sh(['ip', 'netns', 'exec', probe, 'ip', 'link', 'set', 'lo', 'up']);
      return undefined;
    } catch (e) {
      return `ip netns does not work here: ${(e as Error).message.split('\n')[0]}`;
    } finally {
      sh(['ip', 'netns', 'del', probe], { quiet: true });
    }
  })();
  return skipReason;
}

export interface Machine {
  /** The lab's name for it ("a", "b", …). */
  name: string;
  /** Its host name, as its processes see it (hostname(2)). */
  hostname: string;
  netns: string;
  /** Its address on the lab's network. */
  address: string;
  /** The host-side end of its link (on the bridge). */
  hostVeth: string;
  /** The argv that runs `argv` on this machine. */
  wrap(argv: string[]): string[];
  /** spawn() on this machine. */
  spawn(argv: string[], o?: SpawnOptions): ChildProcess;
  /** Run to the end on this machine; stdout. Throws on a non-zero exit. */
  exec(argv: string[]): string;
  /**
   * Cut its link to the host's servers. 'down' (default): the host side of the veth goes down, as
   * a pulled cable (the machine's own stack answers new connections with "host unreachable").
   * 'drop': the link stays up, but the host drops everything it would send to the machine (a
   * blackhole route): the machine's packets arrive and no answer ever comes back, so its
   * connections hang, new and established alike, as behind a dead router or firewall.
   */
  cut(how?: 'down' | 'drop'): void;
  /** Undo cut(). */
  restore(): void;
}

export interface NetLab {
  /** The host's address on the lab network: servers for the machines listen there. */
  hostAddress: string;
  /** The lab network, e.g. 10.213.7.0/24 (for pg_hba.conf). */
  cidr: string;
  bridge: string;
  machine(name: string): Machine;
  machines(): Machine[];
  cleanup(): void;
}

const labs = new Set<NetLab>();
process.on('exit', () => { for (const l of labs) l.cleanup(); });

/** Processes still running inside a namespace (`ip netns pids`). */
function pidsIn(ns: string): number[] {
  return sh(['ip', 'netns', 'pids', ns], { quiet: true }).split(/\s+/).filter(Boolean).map(Number);
}

function removeNamespace(ns: string, uts?: string): void {
  for (const pid of pidsIn(ns)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  sh(['ip', 'netns', 'del', ns], { quiet: true });
  if (uts) {
    sh(['umount', uts], { quiet: true });
    rmSync(uts, { force: true });
  }
}

/** Namespaces, bridges and UTS files of labs whose test process is gone. */
function removeStaleLabs(): void {
  for (const ns of sh(['ip', 'netns', 'list'], { quiet: true }).split('\n').map((l) => l.split(' ')[0]).filter(Boolean)) {
    const m = new RegExp(`^${PREFIX}-(\\d+)-`).exec(ns);
    if (m && !alive(Number(m[1]))) removeNamespace(ns);
  }
  if (existsSync(RUN_DIR)) {
    for (const d of readdirSync(RUN_DIR)) {
      const pid = Number(d.split('-')[0]);
      if (!alive(pid)) {
        for (const f of readdirSync(join(RUN_DIR, d))) sh(['umount', join(RUN_DIR, d, f)], { quiet: true });
        rmSync(join(RUN_DIR, d), { recursive: true, force: true });
        sh(['ip', 'link', 'del', `${PREFIX}b${Number(d.split('-')[1]).toString(36)}`], { quiet: true });
      }
    }
  }
}

let labCounter = 0;

/** A private network 10.X.Y.0/24 that nothing on this host uses yet. */
function freeSubnet(): [number, number] {
  const used = sh(['ip', '-o', '-4', 'addr', 'show']) + sh(['ip', '-4', 'route', 'show', 'table', 'all'], { quiet: true });
  for (let i = 0; i < 200; i++) {
    const x = 100 + Math.floor(Math.random() * 150);
    const y = Math.floor(Math.random() * 256);
    if (!used.includes(`10.${x}.${y}.`)) return [x, y];
  }
  throw new Error('no free 10.X.Y.0/24 network for the test machines');
}

/**
 * A bridge on the host with an address on a fresh private /24; machines join it with machine().
 * Made synchronously, so a test can start its servers on hostAddress right after.
 */
export function startNetLab(): NetLab {
  const why = netnsSkip();
  if (why) throw new Error(why);
  removeStaleLabs();
  // Interface names are at most 15 characters: dflb<id>, dfl<id>v<n>.
  const id = (process.pid * 100 + (++labCounter % 100)) % 36 ** 5;
  const tag = id.toString(36);
  const bridge = `${PREFIX}b${tag}`;
  const runDir = join(RUN_DIR, `${process.pid}-${id}`);
  const [x, y] = freeSubnet();
  const hostAddress = `10.${x}.${y}.1`;
  const made: { ns: string; uts: string; hostVeth: string }[] = [];
  const byName = new Map<string, Machine>();
  let cleaned = false;
  mkdirSync(runDir, { recursive: true });
  sh(['ip', 'link', 'add', bridge, 'type', 'bridge']);
  sh(['ip', 'addr', 'add', `${hostAddress}/24`, 'dev', bridge]);
  sh(['ip', 'link', 'set', bridge, 'up']);

  const lab: NetLab = {
    hostAddress,
    cidr: `10.${x}.${y}.0/24`,
    bridge,
    machine(name: string): Machine {
      const have = byName.get(name);
      if (have) return have;
      if (!/^[a-z][a-z0-9]{0,7}$/.test(name)) throw new Error(`machine name ${name}: a-z and digits, at most 8`);
      const n = byName.size + 2;
      if (n > 254) throw new Error('at most 253 machines per lab');
      const ns = `${PREFIX}-${process.pid}-${tag}-${name}`;
      const hostVeth = `${PREFIX}${tag}v${n}`;
      const uts = join(runDir, `${name}.uts`);
      const hostName = `df${name}-${tag}`;
      const address = `10.${x}.${y}.${n}`;
      made.push({ ns, uts, hostVeth });
      sh(['ip', 'netns', 'add', ns]);
      sh(['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
      sh(['ip', 'link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      sh(['ip', 'link', 'set', hostVeth, 'master', bridge]);
      sh(['ip', 'link', 'set', hostVeth, 'up']);
      sh(['ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
      sh(['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'eth0', 'up']);
      // A UTS namespace kept by a bind mount on `uts`, with the machine's host name set in it.
      writeFileSync(uts, '');
      sh(['unshare', `--uts=${uts}`, 'hostname', hostName]);
      const wrap = (argv: string[]): string[] => ['ip', 'netns', 'exec', ns, 'nsenter', `--uts=${uts}`, '--', ...argv];
      const m: Machine = {
        name, hostname: hostName, netns: ns, address, hostVeth, wrap,
        spawn: (argv, o = {}) => { const w = wrap(argv); return spawn(w[0], w.slice(1), o); },
        exec: (argv) => sh(wrap(argv)),
        cut: (how = 'down') => {
          if (how === 'down') {
            sh(['ip', 'link', 'set', hostVeth, 'down']);
            return;
          }
          // netem and tc actions are not in every kernel (this one has neither); a route is.
          sh(['ip', 'route', 'replace', 'blackhole', `${address}/32`]);
        },
        restore: () => {
          sh(['ip', 'route', 'del', 'blackhole', `${address}/32`], { quiet: true });
          sh(['ip', 'link', 'set', hostVeth, 'up']);
        },
      };
      byName.set(name, m);
      return m;
    },
    machines: () => [...byName.values()],
    cleanup(): void {
      if (cleaned) return;
      cleaned = true;
      labs.delete(lab);
      for (const m of byName.values()) sh(['ip', 'route', 'del', 'blackhole', `${m.address}/32`], { quiet: true });
      for (const m of made) removeNamespace(m.ns, m.uts);
      sh(['ip', 'link', 'del', bridge], { quiet: true });
      rmSync(runDir, { recursive: true, force: true });
    },
  };
  labs.add(lab);
  return lab;
}
