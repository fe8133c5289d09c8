// The raw decompression floor: rpm2cpio (rpm's own C decompressors) writing every payload to
// /dev/null, one RPM after another. Nothing that must read every payload byte can beat this
// on one core.
import { execa } from 'execa';
import { log, median, nowMs } from './util.ts';

export async function decompressionFloor(rpms: string[], runs: number, label: string): Promise<{ medianMs: number; runsMs: number[] }> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const s = nowMs();
    for (const rpm of rpms) await execa('rpm2cpio', [rpm], { stdin: 'ignore', stdout: 'ignore' });
    times.push(nowMs() - s);
    log(`rpm2cpio > /dev/null ${label}: run ${i + 1}/${runs} ${(times[i] / 1000).toFixed(2)} s`);
  }
  return { medianMs: median(times), runsMs: times };
}
