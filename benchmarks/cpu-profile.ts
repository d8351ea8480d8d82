// Summarises a V8 CPU profile (.cpuprofile, as node --cpu-prof or node:inspector write it) by
// self time: the frames where the CPU actually was, grouped by who owns the code; and records one
// in a benchmark server (handleProfileMessage).
import { readFile, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface FrameSelf {
  name: string;
  where: string;
  owner: string;
  /** Self time, µs. */
  self: number;
}

/** Who owns a frame: `authcache` (this repo's packages), an npm package, `node`, or a V8 bucket. */
export function ownerOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.includes('/packages/')) return 'authcache';
  if (url.includes('/benchmarks/')) return 'benchmark app';
  return url;
}

export async function summariseProfile(file: string): Promise<FrameSelf[]> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  // Merge nodes of the same function (a function appears once per distinct call stack).
  const frames = new Map<string, FrameSelf>();
  for (const [id, micros] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const name = functionName || '(anonymous)';
    const file = url.replace(/^.*\/(node_modules|packages|benchmarks)\//, '');
    const where = url === '' ? '' : `${file}:${lineNumber + 1}`;
    const key = `${name}@${where}`;
    const frame = frames.get(key) ?? { name, where, owner: ownerOf(url, name), self: 0 };
    frame.self += micros;
    frames.set(key, frame);
  }
  return [...frames.values()].sort((a, b) => b.self - a.self);
}

let session: Session | undefined;

/**
 * A benchmark server's side of `{ type: 'profile', action, file }`: starts the sampling profiler
 * on `start`, writes the profile of everything since to `file` on `stop`. Both servers use it.
 */
export async function handleProfileMessage(action: 'start' | 'stop', file?: string): Promise<void> {
  if (action === 'start') {
    session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  } else if (session) {
    const { profile } = await session.post('Profiler.stop');
    await writeFile(file!, JSON.stringify(profile));
    session.disconnect();
    session = undefined;
  }
}
