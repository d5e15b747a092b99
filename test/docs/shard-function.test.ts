// The key → shard function of docs/sharding.md in Go, Python and bash, taken from the doc as written and
// run on keys that are not ASCII-only: every answer must equal the gate library's shardOf.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { maxShards, shardOf } from '@leasehold/controller';

const run = promisify(execFile);
const shardingDoc = fileURLToPath(new URL('../../docs/sharding.md', import.meta.url));
const cache =
  process.env.LEASEHOLD_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'leasehold');

const keys = [
  '',
  'a',
  'foobar',
  'default/web',
  'team-a/orders-7',
  'kube-system/coredns',
  "quotes/it's-fine",
  'café/crème-brûlée',
  'jp/設定-1',
  'emoji/🚀-launch',
  ...Array.from({ length: 40 }, (_, i) => `prod/orders-${i}`),
];
// Up to the most shards a deployment may have (maxShards).
const counts = [1, 3, 8, 63, maxShards];

/** The one fenced block of `language` in the doc, exactly as written. */
function codeBlock(doc: string, language: string): string {
  const blocks = [...doc.matchAll(new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``, 'g'))];
  assert.equal(blocks.length, 1, `docs/sharding.md has one ${language} block`);
  return blocks[0]?.[1] as string;
}

const expected = (shards: number) => keys.map((key) => String(shardOf(key, shards)));
const lines = (stdout: string) => stdout.split('\n').slice(0, -1);
const input = `${keys.join('\n')}\n`;

/** Runs `command` once per shard count with the keys on stdin, one answer per line back. */
async function answers(command: string, args: string[], cwd?: string): Promise<Map<number, string[]>> {
  const byCount = new Map<number, string[]>();
  for (const shards of counts) {
    const child = execFile(command, [...args, String(shards)], {
      cwd,
      env: { ...process.env, LANG: 'C.UTF-8' },
    });
    child.stdin?.end(input);
    let stdout = '';
    child.stdout?.on('data', (chunk: string) => (stdout += chunk));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, `${command} exited with ${code}`);
    byCount.set(shards, lines(stdout));
  }
  return byCount;
}

let dir: string;
after(() => rm(dir, { recursive: true, force: true }));

test('Go, Python and bash versions in docs/sharding.md agree with shardOf on every key and count', async () => {
  const doc = await readFile(shardingDoc, 'utf8');
  dir = await mkdtemp(join(tmpdir(), 'leasehold-shards-'));

  const python = codeBlock(doc, 'python');
  await writeFile(join(dir, 'shards.py'), python);
  await writeFile(
    join(dir, 'main.py'),
    'import sys\nfrom shards import shard_of\nfor key in sys.stdin.read().split("\\n")[:-1]:\n    print(shard_of(key, int(sys.argv[1])))\n',
  );

  const go = codeBlock(doc, 'go');
  const harness = [
    'package main',
    'import ("bufio"; "fmt"; "os"; "strconv"; "harness/leasehold")',
    'func main() {',
    '  shards, _ := strconv.Atoi(os.Args[1])',
    '  in := bufio.NewScanner(os.Stdin)',
    '  for in.Scan() { fmt.Println(leasehold.ShardOf(in.Text(), uint32(shards))) }',
    '}',
    '',
  ].join('\n');
  const goDir = join(
    cache,
    `shards-go-${createHash('sha256').update(go).update(harness).digest('hex').slice(0, 16)}`,
  );
  await mkdir(join(goDir, 'leasehold'), { recursive: true });
  await writeFile(join(goDir, 'go.mod'), 'module harness\n\ngo 1.24\n');
  await writeFile(join(goDir, 'leasehold', 'leasehold.go'), go);
  await writeFile(join(goDir, 'main.go'), harness);
  await run('go', ['build', '-o', 'shards', '.'], {
    cwd: goDir,
    env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod', CGO_ENABLED: '0' },
  });

  const sh = codeBlock(doc, 'sh');
  await writeFile(join(dir, 'main.sh'), `${sh}\nwhile IFS= read -r key; do shard_of "$key" "$1"; done\n`);

  const results = {
    python: await answers('python3', ['main.py'], dir),
    go: await answers(join(goDir, 'shards'), []),
    bash: await answers('bash', [join(dir, 'main.sh')]),
  };
  for (const [language, byCount] of Object.entries(results)) {
    for (const shards of counts) {
      assert.deepEqual(byCount.get(shards), expected(shards), `${language}, ${shards} shards`);
    }
  }
});
