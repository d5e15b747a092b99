// Writes the sidecar settings the charts repeat from the option table in src/config-schema.ts: the
// library chart's defaults (templates/_settings.tpl) and their copy for users (values.yaml), the app
// chart's values.yaml, and the type, bounds, enum, default and description of each in the app chart's
// values.schema.json. `node sidecar/scripts/chart-settings.ts` rewrites them; `--check` (and a unit
// test) fails listing each file that differs. Descriptions in values.yaml stay hand-written: they say
// what the chart does with a value (RBAC it adds, ports it wires), which the option table cannot.
// The kustomize component sets none of these, so it runs on the sidecar's own defaults and cannot drift.
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type OptionSpec, optionSpecs } from '../src/config-schema.ts';

const chartDir = fileURLToPath(new URL('../../chart/', import.meta.url));

interface ChartSetting {
  /** Path under the chart's sidecar block (`sidecar:` / `leasehold:`). */
  path: string;
  option: OptionSpec['key'];
  /** Where the chart differs from the sidecar, and why (each is stated in values.schema.json too). */
  override?: { default?: string | number | boolean; min?: number; reason: string };
}

export const chartSettings: readonly ChartSetting[] = [
  { path: 'election.leaseDurationSeconds', option: 'leaseDurationSeconds' },
  { path: 'election.renewDeadlineSeconds', option: 'renewDeadlineSeconds' },
  { path: 'election.retryPeriodSeconds', option: 'retryPeriodSeconds' },
  { path: 'election.safetyMarginSeconds', option: 'safetyMarginSeconds' },
  {
    path: 'port',
    option: 'port',
    override: { min: 1, reason: 'in a pod the port is fixed: LEASEHOLD_URL and the app name it' },
  },
  {
    path: 'probePort',
    option: 'probePort',
    override: {
      default: 4041,
      min: 1,
      reason: "the chart always runs the probe listener: the kubelet's probes use it",
    },
  },
  { path: 'sessionlessValiditySeconds', option: 'sessionlessValiditySeconds' },
  { path: 'shards', option: 'shards' },
  { path: 'resignPauseSeconds', option: 'resignPauseSeconds' },
  { path: 'emitEvents', option: 'emitEvents' },
  { path: 'podRoleLabel', option: 'podRoleLabel' },
  { path: 'appHealthUrl', option: 'appHealthUrl', override: { default: '', reason: 'empty: no health URL' } },
  { path: 'appUnhealthySeconds', option: 'appUnhealthySeconds' },
  { path: 'logLevel', option: 'logLevel' },
];

function resolved(setting: ChartSetting) {
  const spec = optionSpecs.find((s) => s.key === setting.option) as OptionSpec | undefined;
  if (!spec)
    throw new Error(`chart setting ${setting.path}: no option ${setting.option} in config-schema.ts`);
  const value = setting.override && 'default' in setting.override ? setting.override.default : spec.default;
  if (value === undefined) throw new Error(`chart setting ${setting.path}: ${spec.env} has no default`);
  return { spec, value, min: setting.override?.min ?? spec.min };
}

const yamlScalar = (value: string | number | boolean) =>
  typeof value === 'string'
    ? /^[a-z][a-z0-9.]*$/.test(value)
      ? value
      : JSON.stringify(value)
    : String(value);

/** `text` with the value of each setting replaced, in the block whose first line is `blockLine`. */
export function withYamlValues(text: string, blockLine: string, childIndent: number, file: string): string {
  const lines = text.split('\n');
  const start = lines.indexOf(blockLine);
  if (start < 0) throw new Error(`${file}: no line "${blockLine}"`);
  for (const setting of chartSettings) {
    const segments = setting.path.split('.');
    let at = start;
    segments.forEach((segment, depth) => {
      const indent = ' '.repeat(childIndent + 2 * depth);
      const found = lines.findIndex((line, i) => i > at && line.startsWith(`${indent}${segment}:`));
      const end = lines.findIndex(
        (line, i) =>
          i > at &&
          line.trim() &&
          !line.trimStart().startsWith('#') &&
          (line.startsWith('{{') || line.length - line.trimStart().length < indent.length),
      );
      if (found < 0 || (end >= 0 && found > end))
        throw new Error(`${file}: no ${setting.path} under "${blockLine}"`);
      at = found;
    });
    const line = lines[at] as string;
    const key = line.slice(0, line.indexOf(':') + 1);
    lines[at] = `${key} ${yamlScalar(resolved(setting).value)}`;
  }
  return lines.join('\n');
}

/** The app chart's schema with each setting's type, bounds, enum, default and description. */
export function withSchema(text: string): string {
  const schema = JSON.parse(text);
  for (const setting of chartSettings) {
    const { spec, value, min } = resolved(setting);
    let properties = schema.properties.sidecar.properties;
    const segments = setting.path.split('.');
    for (const segment of segments.slice(0, -1)) properties = properties[segment].properties;
    const property: Record<string, unknown> = { type: spec.type };
    if (min !== undefined) property.minimum = min;
    if (spec.max !== undefined) property.maximum = spec.max;
    if (spec.values) property.enum = spec.values;
    property.default = value;
    property.description = `${spec.env}: ${spec.description}${setting.override ? ` Chart: ${setting.override.reason}.` : ''}`;
    properties[segments.at(-1) as string] = property;
  }
  return `${JSON.stringify(schema, null, 2)}\n`;
}

/**
 * `text` with the body of the library's "leasehold.lib.ranges" define written from the option table:
 * each bounded setting's [min, max] and each enumerated one's values, which "leasehold.lib.validate"
 * checks, so a library chart user gets the sidecar's own bounds at render time.
 */
export function withRanges(text: string): string {
  const open = '{{- define "leasehold.lib.ranges" -}}';
  const start = text.indexOf(open);
  const end = text.indexOf('{{- end -}}', start);
  if (start < 0 || end < 0) throw new Error(`_settings.tpl: no ${open} … {{- end -}}`);
  const lines = chartSettings.flatMap((setting) => {
    const { spec, min } = resolved(setting);
    if (spec.values) return [`${setting.path}: {values: [${spec.values.join(', ')}]}`];
    if (min === undefined || spec.max === undefined) return [];
    return [`${setting.path}: {min: ${min}, max: ${spec.max}}`];
  });
  return `${text.slice(0, start)}${open}\n${lines.join('\n')}\n${text.slice(end)}`;
}

const targets: { file: string; render: (text: string) => string }[] = [
  {
    file: 'leasehold-lib/templates/_settings.tpl',
    render: (t) =>
      withYamlValues(
        withRanges(t),
        '{{- define "leasehold.sidecar.defaults" -}}',
        0,
        'leasehold-lib/templates/_settings.tpl',
      ),
  },
  {
    file: 'leasehold-lib/values.yaml',
    render: (t) => withYamlValues(t, 'leasehold:', 2, 'leasehold-lib/values.yaml'),
  },
  { file: 'leasehold/values.yaml', render: (t) => withYamlValues(t, 'sidecar:', 2, 'leasehold/values.yaml') },
  { file: 'leasehold/values.schema.json', render: withSchema },
];

/** The files that differ from what config-schema.ts says; with `write`, rewritten. */
export async function chartSettingsDrift(write = false): Promise<string[]> {
  const drifted: string[] = [];
  for (const { file, render } of targets) {
    const path = `${chartDir}${file}`;
    const text = await readFile(path, 'utf8');
    const next = render(text);
    if (next === text) continue;
    drifted.push(`chart/${file}`);
    if (write) await writeFile(path, next);
  }
  return drifted;
}

if (import.meta.main) {
  const check = process.argv.includes('--check');
  const drifted = await chartSettingsDrift(!check);
  if (check && drifted.length) {
    process.stderr.write(
      `chart settings differ from sidecar/src/config-schema.ts: ${drifted.join(', ')}\nrun: node sidecar/scripts/chart-settings.ts\n`,
    );
    process.exitCode = 1;
  } else
    process.stdout.write(drifted.length ? `rewrote ${drifted.join(', ')}\n` : 'chart settings up to date\n');
}
