// The one release version and every place that must carry it: the root package.json names it; the
// npm packages, both charts' version and appVersion, the app chart's dependency on the library chart,
// the library's default image tag and the kustomize patch's image must all agree.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface VersionField {
  file: string;
  field: string;
  value: string | undefined;
}

const json = async (file: string) => JSON.parse(await readFile(join(repoRoot, file), 'utf8'));
const text = (file: string) => readFile(join(repoRoot, file), 'utf8');
const line = (source: string, pattern: RegExp) => pattern.exec(source)?.[1];

/** Every version field the release stamps or checks, read from `root`'s files. */
export async function versionFields(): Promise<{ version: string; fields: VersionField[] }> {
  const root = await json('package.json');
  const fields: VersionField[] = [];
  for (const file of ['sidecar/package.json', 'controller/package.json', 'controller/example/package.json'])
    fields.push({ file, field: 'version', value: (await json(file)).version });
  for (const chart of ['chart/leasehold-lib', 'chart/leasehold']) {
    const source = await text(`${chart}/Chart.yaml`);
    fields.push({ file: `${chart}/Chart.yaml`, field: 'version', value: line(source, /^version: (\S+)$/m) });
    fields.push({
      file: `${chart}/Chart.yaml`,
      field: 'appVersion',
      value: line(source, /^appVersion: "?([^"\s]+)"?$/m),
    });
  }
  const app = await text('chart/leasehold/Chart.yaml');
  fields.push({
    file: 'chart/leasehold/Chart.yaml',
    field: 'dependencies[leasehold-lib].version',
    value: line(app, /- name: leasehold-lib\n\s+version: (\S+)/),
  });
  for (const file of ['chart/leasehold-lib/values.yaml', 'chart/leasehold-lib/templates/_settings.tpl'])
    fields.push({ file, field: 'image.tag', value: line(await text(file), /^\s+tag: "([^"]+)"$/m) });
  fields.push({
    file: 'chart/kustomize/leasehold-sidecar/sidecar-patch.yaml',
    field: 'image',
    value: line(await text('chart/kustomize/leasehold-sidecar/sidecar-patch.yaml'), /image: \S+:(\S+)$/m),
  });
  return { version: root.version, fields };
}

/** The fields that do not carry `version`, as readable lines. */
export function versionDrift(version: string, fields: VersionField[]): string[] {
  return fields
    .filter((f) => f.value !== version)
    .map((f) => `${f.file} ${f.field} is ${f.value ?? 'missing'}, the release is ${version}`);
}
