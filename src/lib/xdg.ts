// The XDG base directories darkforge keeps its files under (each with a darkforge/ folder).
import { homedir } from 'node:os';
import { join } from 'node:path';

const FALLBACK = { data: ['.local', 'share'], cache: ['.cache'], config: ['.config'] } as const;
const VARIABLE = { data: 'XDG_DATA_HOME', cache: 'XDG_CACHE_HOME', config: 'XDG_CONFIG_HOME' } as const;

/** $XDG_{DATA,CACHE,CONFIG}_HOME/darkforge, with the spec's defaults under $HOME. */
export function darkforgeDir(kind: keyof typeof FALLBACK, env: NodeJS.ProcessEnv = process.env): string {
  return join(env[VARIABLE[kind]] || join(env.HOME || homedir(), ...FALLBACK[kind]), 'darkforge');
}
