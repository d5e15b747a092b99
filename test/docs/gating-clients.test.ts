// The Go, Python and shell clients of docs/gating.md, taken from the doc as written and run against
// three real sidecars on one Lease (one client each), while the leader is resigned, stopped, killed and
// cut off. Each client records when its units of work really ran; no two may overlap.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { overlaps, transitions, type Window } from '../support/acting-windows.ts';
import { Fleet } from '../support/fleet.ts';
import { killOnExit } from '../support/sidecar.ts';

const clientsDir = fileURLToPath(new URL('./clients/', import.meta.url));
const gatingDoc = fileURLToPath(new URL('../../docs/gating.md', import.meta.url));
const cache =
  process.env.LEASEHOLD_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'leasehold');

/** The one fenced code block of `language` in the doc, exactly as written. */
function codeBlock(doc: string, language: string): string {
  const blocks = [...doc.matchAll(new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``, 'g'))].map(
    (m) => m[1] as string,
  );
  assert.equal(blocks.length, 1, `docs/gating.md has one ${language} block`);
  return blocks[0] as string;
}

/** Builds the Go client with the harness (standard library only), cached by the sources' hash. */
async function goClient(source: string): Promise<string> {
  const harness = await readFile(join(clientsDir, 'harness.go'), 'utf8');
  const hash = createHash('sha256').update(source).update(harness).digest('hex').slice(0, 16);
  const dir = join(cache, `gating-go-${hash}`);
  const binary = join(dir, 'client');
  try {
    await readFile(binary);
    return binary;
  } catch {}
  await mkdir(join(dir, 'leasehold'), { recursive: true });
  await writeFile(join(dir, 'go.mod'), 'module harness\n\ngo 1.24\n');
  await writeFile(join(dir, 'leasehold', 'leasehold.go'), source);
  await writeFile(join(dir, 'main.go'), harness);
  await promisify(execFile)('go', ['build', '-o', binary, '.'], {
    cwd: dir,
    env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod', CGO_ENABLED: '0' },
  });
  return binary;
}

interface Client {
  name: string;
  child: ChildProcess;
  windows(): Promise<Window[]>;
}

/** Starts a client process whose stdout carries {start, end} JSON lines. */
function jsonLinesClient(
  name: string,
  command: string,
  args: string[],
  env: Record<string, string>,
  cwd?: string,
): Client {
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killOnExit(child);
  const lines: string[] = [];
  let buffered = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    lines.push(...parts.filter(Boolean));
  });
  child.stderr?.resume();
  return {
    name,
    child,
    windows: async () =>
      lines.map((line) => {
        const { start, end } = JSON.parse(line) as { start: string; end: string };
        return { replica: name, start: BigInt(start), end: BigInt(end) };
      }),
  };
}

/** The shell client: the doc's block as a script, its unit of work our heartbeat recorder on PATH. */
async function shellClient(name: string, block: string, env: Record<string, string>): Promise<Client> {
  const dir = await mkdtemp(join(tmpdir(), 'gating-sh-'));
  const script = join(dir, 'client.sh');
  const windowsFile = join(dir, 'windows');
  await writeFile(script, block);
  await writeFile(windowsFile, '');
  const child = spawn('bash', [script], {
    env: { ...process.env, ...env, PATH: `${clientsDir}:${process.env.PATH}`, WINDOWS_FILE: windowsFile },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true, // its own process group, so that it and its units all stop with it
  });
  killOnExit(child);
  child.stderr?.resume();
  return {
    name,
    child,
    windows: async () => {
      const byStart = new Map<string, bigint>();
      for (const line of (await readFile(windowsFile, 'utf8')).split('\n').filter(Boolean)) {
        const [start, beat] = line.split(' ') as [string, string];
        const last = byStart.get(start);
        if (last === undefined || BigInt(beat) > last) byStart.set(start, BigInt(beat));
      }
      return [...byStart].map(([start, end]) => ({ replica: name, start: BigInt(start), end }));
    },
  };
}

test('the Go, Python and shell clients of docs/gating.md, run as written: never two acting at once', async (t) => {
  const doc = await readFile(gatingDoc, 'utf8');
  const timings = {
    leaseDurationSeconds: 4,
    renewDeadlineSeconds: 3,
    retryPeriodSeconds: 1,
    safetyMarginSeconds: 1,
  };
  const ldMs = timings.leaseDurationSeconds * 1000;
  const fleet = await Fleet.start({ timings, pollIntervalMs: 50 });
  const clients: Client[] = [];
  t.after(async () => {
    for (const client of clients) {
      try {
        process.kill(-(client.child.pid as number), 'SIGKILL');
      } catch {
        client.child.kill('SIGKILL');
      }
    }
    await fleet.close();
  });
  const [python, go, shell] = await Promise.all(
    ['python', 'go', 'shell'].map((name) => fleet.startSidecar(name)),
  );
  const pyDir = await mkdtemp(join(tmpdir(), 'gating-py-'));
  await writeFile(join(pyDir, 'leasehold_client.py'), codeBlock(doc, 'python'));
  await writeFile(join(pyDir, 'harness.py'), await readFile(join(clientsDir, 'harness.py')));
  clients.push(
    jsonLinesClient('python', 'python3', ['harness.py'], { LEASEHOLD_URL: python?.url ?? '' }, pyDir),
  );
  clients.push(
    jsonLinesClient('go', await goClient(codeBlock(doc, 'go')), [], { LEASEHOLD_URL: go?.url ?? '' }),
  );
  clients.push(await shellClient('shell', codeBlock(doc, 'sh'), { LEASEHOLD_URL: shell?.url ?? '' }));

  const acted = async (name: string) => {
    const client = clients.find((c) => c.name === name) as Client;
    const count = (await client.windows()).length;
    const deadline = performance.now() + ldMs;
    while ((await client.windows()).length <= count) {
      assert.ok(performance.now() < deadline, `the ${name} client does not act although its sidecar leads`);
      await sleep(50);
    }
  };
  const disrupt = async (how: string) => {
    const holder = await fleet.waitForHolder(ldMs * 4);
    await acted(holder);
    const sidecar = fleet.sidecars.get(holder);
    if (how === 'resign') {
      const response = await fetch(`${sidecar?.url}/leader/resign?pauseSeconds=1`, { method: 'POST' });
      assert.ok(response.status === 202 || response.status === 409);
    } else if (how === 'blackhole') {
      fleet.proxies.get(holder)?.set('blackhole');
      await fleet.waitForHolder(ldMs * 4, (name) => name !== holder);
      fleet.proxies.get(holder)?.set('pass');
    } else {
      await sidecar?.stop(how as NodeJS.Signals);
      await fleet.waitForHolder(ldMs * 4, (name) => name !== holder);
      await fleet.startSidecar(holder);
    }
    await fleet.waitForHolder(ldMs * 4, (name) => name !== holder);
  };
  for (const how of ['resign', 'SIGTERM', 'resign', 'SIGKILL', 'resign', 'blackhole', 'resign', 'SIGTERM'])
    await disrupt(how);
  await acted(await fleet.waitForHolder(ldMs * 4));

  const clientWindows = (await Promise.all(clients.map((c) => c.windows()))).flat();
  const windows = [...clientWindows, ...fleet.windows()];
  process.stderr.write(
    `[gating clients] ${clientWindows.length} units of work, ${transitions(clientWindows)} transitions between clients\n`,
  );
  assert.deepEqual(overlaps(windows), []);
  for (const name of ['python', 'go', 'shell']) {
    assert.ok(
      clientWindows.some((w) => w.replica === name),
      `the ${name} client acted`,
    );
  }
  assert.ok(transitions(clientWindows) >= 4);
});
