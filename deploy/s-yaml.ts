/**
 * s.yaml as Serverless Devs renders it, for the subset of its magic variables oss-sse uses.
 *
 * Devs (@serverless-devs/parse-spec) loads the file with js-yaml (anchors and aliases
 * resolved), renders every top-level key but `resources` first (so `vars` may use
 * `${env(...)}`), then renders each resource's props with the rendered `vars`. A string that
 * is exactly one `${...}` takes the referenced value as it is (`${vars.environment}` becomes
 * the object); references inside a longer string are interpolated as text.
 *
 * Supported: `${vars.a.b}`, `${env('NAME')}`, `${env('NAME', 'default')}` (quotes optional,
 * as in Devs 2 docs), `${config('AccountID')}`. Anything else — an unknown function, a var
 * that does not exist, an unset environment variable without a default — throws, so a typo
 * in s.yaml fails the tests instead of reaching `s deploy`. `preview: true` leaves
 * `${config(...)}` as written, which is what `s preview` prints. (Devs also loads a `.env` next
 * to s.yaml and in each code folder into the environment; pass those values in `env` if you use one.)
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const S_YAML_PATH = join(REPO_ROOT, 's.yaml');

export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue };
export type YamlObject = { [key: string]: YamlValue };

export interface RenderContext {
  /** Environment for `${env(...)}`; pass `{}` for the defaults written in s.yaml. */
  env: Readonly<Record<string, string | undefined>>;
  /** Values for `${config(...)}` (what `s config add` stored), e.g. `{ AccountID: '123…' }`. */
  config?: Readonly<Record<string, string>>;
  /** Leave `${config(...)}` unrendered, like `s preview`. */
  preview?: boolean;
}

export function isObject(v: YamlValue | undefined): v is YamlObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The object at `v`, or an error naming `where`. */
export function objectAt(v: YamlValue | undefined, where: string): YamlObject {
  if (!isObject(v)) throw new Error(`s.yaml: ${where} must be a mapping`);
  return v;
}

export function arrayAt(v: YamlValue | undefined, where: string): YamlValue[] {
  if (!Array.isArray(v)) throw new Error(`s.yaml: ${where} must be a list`);
  return v;
}

export function stringAt(v: YamlValue | undefined, where: string): string {
  if (typeof v !== 'string') throw new Error(`s.yaml: ${where} must be a string`);
  return v;
}

/** Parses s.yaml as YAML 1.2 with aliases resolved (no merge keys: Devs' js-yaml would not need them, we do not use them). */
export function loadSYaml(path: string = S_YAML_PATH): YamlObject {
  const doc: unknown = parse(readFileSync(path, 'utf8'), { maxAliasCount: 100 });
  return objectAt(toYamlValue(doc, '(root)'), '(root)');
}

function toYamlValue(v: unknown, where: string): YamlValue {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (Array.isArray(v)) return v.map((x, i) => toYamlValue(x, `${where}[${i}]`));
  if (typeof v === 'object') {
    const out: YamlObject = {};
    for (const [k, x] of Object.entries(v)) out[k] = toYamlValue(x, `${where}.${k}`);
    return out;
  }
  throw new Error(`s.yaml: ${where} has a value YAML should not produce (${typeof v})`);
}

const REFERENCE_RE = /\$\{([^}]*)\}/g;
const WHOLE_REFERENCE_RE = /^\$\{([^}]*)\}$/;
const ENV_RE = /^env\(\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\1\s*(?:,\s*(['"])(.*?)\3\s*)?\)$/;
const CONFIG_RE = /^config\(\s*(['"]?)([A-Za-z]+)\1\s*\)$/;
const VARS_RE = /^vars((?:\.[A-Za-z_][A-Za-z0-9_-]*)+)$/;

/** What one `${...}` expression stands for; `undefined` means "leave the reference as written". */
function resolveExpression(expr: string, vars: YamlObject | undefined, ctx: RenderContext, where: string): YamlValue | undefined {
  const e = expr.trim();
  const env = ENV_RE.exec(e);
  if (env) {
    const name = env[2] as string;
    const value = ctx.env[name];
    if (value !== undefined) return value;
    if (env[4] !== undefined) return env[4];
    throw new Error(`s.yaml: ${where}: environment variable ${name} is not set and \${${e}} has no default`);
  }
  const config = CONFIG_RE.exec(e);
  if (config) {
    if (ctx.preview) return undefined;
    const key = config[2] as string;
    const value = ctx.config?.[key];
    if (value === undefined) throw new Error(`s.yaml: ${where}: \${${e}} needs config ${key} (s config add)`);
    return value;
  }
  const path = VARS_RE.exec(e);
  if (path) {
    if (vars === undefined) throw new Error(`s.yaml: ${where}: vars cannot reference vars (\${${e}})`);
    let v: YamlValue | undefined = vars;
    for (const key of (path[1] as string).slice(1).split('.')) v = isObject(v) ? v[key] : undefined;
    if (v === undefined) throw new Error(`s.yaml: ${where}: \${${e}} names no var`);
    return v;
  }
  throw new Error(`s.yaml: ${where}: unsupported reference \${${e}}`);
}

function renderString(s: string, vars: YamlObject | undefined, ctx: RenderContext, where: string): YamlValue {
  const whole = WHOLE_REFERENCE_RE.exec(s);
  if (whole) return resolveExpression(whole[1] as string, vars, ctx, where) ?? s;
  return s.replace(REFERENCE_RE, (ref, expr: string) => {
    const v = resolveExpression(expr, vars, ctx, where);
    if (v === undefined) return ref;
    if (isObject(v) || Array.isArray(v)) throw new Error(`s.yaml: ${where}: ${ref} is not text and cannot be part of a string`);
    return String(v);
  });
}

function renderValue(v: YamlValue, vars: YamlObject | undefined, ctx: RenderContext, where: string): YamlValue {
  if (typeof v === 'string') return renderString(v, vars, ctx, where);
  if (Array.isArray(v)) return v.map((x, i) => renderValue(x, vars, ctx, `${where}[${i}]`));
  if (isObject(v)) {
    const out: YamlObject = {};
    for (const [k, x] of Object.entries(v)) out[k] = renderValue(x, vars, ctx, `${where}.${k}`);
    return out;
  }
  return v;
}

/** The whole file rendered the way Devs renders it (see the file comment). */
export function renderSYaml(raw: YamlObject, ctx: RenderContext): YamlObject {
  const { resources, ...rest } = raw;
  const top = objectAt(renderValue(rest, undefined, ctx, '(top level)'), '(top level)');
  const vars = isObject(top.vars) ? top.vars : {};
  const out: YamlObject = { ...top };
  if (resources !== undefined) out.resources = renderValue(objectAt(resources, 'resources'), vars, ctx, 'resources');
  return out;
}

export interface FcResource {
  /** The resource key in s.yaml (`object-encryption`). */
  name: string;
  component: string;
  props: YamlObject;
}

/** Every resource of a rendered s.yaml, in file order. */
export function resourcesOf(rendered: YamlObject): FcResource[] {
  const resources = objectAt(rendered.resources, 'resources');
  return Object.entries(resources).map(([name, r]) => {
    const res = objectAt(r, `resources.${name}`);
    return {
      name,
      component: stringAt(res.component, `resources.${name}.component`),
      props: objectAt(res.props, `resources.${name}.props`),
    };
  });
}

/** The rendered resource whose props.functionName is `functionName`. */
export function functionResource(rendered: YamlObject, functionName: string): FcResource {
  const found = resourcesOf(rendered).find((r) => r.props.functionName === functionName);
  if (!found) throw new Error(`s.yaml: no resource deploys ${functionName}`);
  return found;
}
