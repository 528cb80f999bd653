/**
 * s.yaml: it parses, and once its ${vars.…}, ${env(…)} and ${config(…)} references are rendered
 * (deploy/s-yaml.ts, checked against `s preview` itself below), every function's props
 * validate against the fc3 component's own JSON schema, and the triggers are exactly the
 * filters the code and the local stack use (shared/triggers.ts). Also the documented options
 * (deploy/options.yaml) and the environment the functions get (loadConfig must accept it).
 */
import Ajv, { type ValidateFunction } from 'ajv';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { exactValues, patternMatches } from '../../deploy/eventbridge-pattern';
import { FUNCTION_KEYS, FUNCTIONS } from '../../deploy/ram-policy';
import {
  arrayAt,
  functionResource,
  isObject,
  loadSYaml,
  objectAt,
  renderSYaml,
  REPO_ROOT,
  resourcesOf,
  stringAt,
  type YamlObject,
  type YamlValue,
} from '../../deploy/s-yaml';
import { BUCKET_ACTION_TRAIL_EVENTS, BUCKET_CREATED_TYPE, bucketTriggerMatches, OBJECT_TRIGGER_EVENTS } from '../../shared/triggers';
import { ConfigSchema, loadConfig } from '../../shared/validation/config';

const ACCOUNT = '1234567890123456';
const SCHEMA_PATH = join(REPO_ROOT, 'deploy', 'fc3-component-schema.json');
/** Where the reference copy lives next to the repo (the vendored copy must not drift from it). */
const REFERENCE_SCHEMA_PATH = join(REPO_ROOT, '..', 'shared', 'reference', 'fc3-component-schema.json');

const schema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as {
  properties: Record<string, unknown>;
  definitions: Record<string, { properties?: Record<string, unknown> }>;
};
const ajv = new Ajv({ allErrors: true });
ajv.addSchema(schema, 'fc3');
function validator(ref: string): ValidateFunction {
  const v = ajv.getSchema(`fc3${ref}`);
  if (!v) throw new Error(`no schema at ${ref}`);
  return v;
}
const validateProps = validator('');
const validateTrigger = validator('#/definitions/ITrigger');
const validateOssTrigger = validator('#/definitions/IOssTriggerConfig');
const validateEventBridge = validator('#/definitions/IEventBridge');
const validateAsyncInvokeConfig = validator('#/definitions/IAsyncInvokeConfig');

function schemaErrors(v: ValidateFunction, data: unknown): string[] {
  return v(data) ? [] : (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

/** Keys the schema does not declare: the schema allows them (no additionalProperties: false), fc3 would ignore them silently. */
function unknownKeys(obj: YamlObject, known: Record<string, unknown> | undefined): string[] {
  return Object.keys(obj).filter((k) => !(known && k in known));
}

const raw = loadSYaml();
const rendered = renderSYaml(raw, { env: {}, config: { AccountID: ACCOUNT } });
const fn = (key: (typeof FUNCTION_KEYS)[number]) => functionResource(rendered, FUNCTIONS[key]).props;
const triggers = (props: YamlObject): YamlObject[] =>
  props.triggers === undefined ? [] : arrayAt(props.triggers, 'triggers').map((t, i) => objectAt(t, `triggers[${i}]`));
const patternOf = (t: YamlObject): unknown =>
  JSON.parse(stringAt(objectAt(t.triggerConfig, 'triggerConfig').eventRuleFilterPattern, 'pattern'));

const CONFIG_VARIABLES = Object.keys(ConfigSchema.out.shape);

describe('s.yaml', () => {
  it('is edition 3.0.0 with one fc3 resource per function, and nothing else', () => {
    expect(raw.edition).toBe('3.0.0');
    expect(raw.name).toBe('oss-sse');
    const resources = resourcesOf(rendered);
    expect(resources.map((r) => r.component)).toEqual(['fc3', 'fc3', 'fc3']);
    expect(resources.map((r) => r.props.functionName).sort()).toEqual(Object.values(FUNCTIONS).sort());
  });

  it('uses the same fc3 schema as the shared reference', () => {
    if (!existsSync(REFERENCE_SCHEMA_PATH)) return; // a checkout without ../shared: the vendored copy is what we have
    expect(JSON.parse(readFileSync(REFERENCE_SCHEMA_PATH, 'utf8'))).toEqual(schema);
  });

  it.each(FUNCTION_KEYS)('%s: props validate against the fc3 component schema', (key) => {
    const props = fn(key);
    expect(schemaErrors(validateProps, props)).toEqual([]);
    // The schema tolerates unknown keys; a typo (memory for memorySize) would deploy nothing.
    expect(unknownKeys(props, schema.properties)).toEqual([]);
    for (const t of triggers(props)) {
      expect(schemaErrors(validateTrigger, t)).toEqual([]);
      expect(unknownKeys(t, schema.definitions.ITrigger?.properties)).toEqual([]);
      const config = objectAt(t.triggerConfig, 'triggerConfig');
      // ITrigger's triggerConfig is anyOf(…, IOtsConfig = any object): check the right branch too.
      if (t.triggerType === 'oss') {
        expect(schemaErrors(validateOssTrigger, config)).toEqual([]);
        expect(unknownKeys(config, schema.definitions.IOssTriggerConfig?.properties)).toEqual([]);
      } else {
        expect(t.triggerType).toBe('eventbridge');
        expect(schemaErrors(validateEventBridge, config)).toEqual([]);
        expect(unknownKeys(config, schema.definitions.IEventBridge?.properties)).toEqual([]);
      }
    }
  });

  it.each(FUNCTION_KEYS)('%s: functionName, runtime, handler and code point at the bundle', async (key) => {
    const props = fn(key);
    expect(props.functionName).toBe(FUNCTIONS[key]);
    expect(props.runtime).toBe('nodejs20');
    expect(props.handler).toBe('index.handler');
    expect(props.code).toBe(`./dist/functions/${key}`);
    // …which is where `npm run build` writes that function's bundle.
    const build = (await import(pathToFileURL(join(REPO_ROOT, 'scripts', 'build.mjs')).href)) as {
      bundleEntries: () => Array<{ in: string; out: string }>;
    };
    const entry = build.bundleEntries().find((e) => e.in === `functions/${key}/index.ts`);
    expect(entry?.out).toBe(`dist/functions/${key}/index.js`);
    expect(props.role).toBe(`acs:ram::${ACCOUNT}:role/${FUNCTIONS[key]}`);
  });

  it('sizes the backfill in minutes and the event functions in seconds', () => {
    expect(fn('backfill').timeout).toBeGreaterThanOrEqual(600);
    for (const key of ['bucket-encryption', 'object-encryption'] as const) expect(Number(fn(key).timeout)).toBeLessThanOrEqual(300);
    for (const key of FUNCTION_KEYS) {
      const props = fn(key);
      expect(Number(props.memorySize)).toBeGreaterThanOrEqual(512);
      // FC 3.0 (not in the schema): memory in GB per vCPU between 1 and 4.
      const ratio = Number(props.memorySize) / 1024 / Number(props.cpu);
      expect(ratio).toBeGreaterThanOrEqual(1);
      expect(ratio).toBeLessThanOrEqual(4);
    }
  });

  it('bounds async retries for every function', () => {
    for (const key of FUNCTION_KEYS) {
      const c = objectAt(fn(key).asyncInvokeConfig, 'asyncInvokeConfig');
      expect(schemaErrors(validateAsyncInvokeConfig, c)).toEqual([]);
      expect(Number(c.maxAsyncRetryAttempts)).toBeGreaterThanOrEqual(1);
      expect(Number(c.maxAsyncRetryAttempts)).toBeLessThanOrEqual(3);
    }
  });

  it('builds before every deploy', () => {
    const pre = arrayAt(objectAt(rendered.actions, 'actions')['pre-deploy'], 'actions.pre-deploy').map((a) => objectAt(a, 'action'));
    expect(pre.some((a) => typeof a.run === 'string' && a.run.includes('npm run build'))).toBe(true);
  });

  it('object function: one OSS trigger per watched bucket, on exactly the upload events', () => {
    const ts = triggers(fn('object-encryption'));
    expect(ts.length).toBeGreaterThan(0);
    expect(new Set(ts.map((t) => t.triggerName)).size).toBe(ts.length);
    for (const t of ts) {
      expect(t.triggerType).toBe('oss');
      expect(t.sourceArn).toMatch(
        new RegExp(`^acs:oss:${String(fn('object-encryption').region)}:${ACCOUNT}:[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`),
      );
      expect(t.invocationRole).toBe(`acs:ram::${ACCOUNT}:role/aliyunosseventnotificationrole`);
      const events = arrayAt(objectAt(t.triggerConfig, 'triggerConfig').events, 'events');
      expect(events).toEqual([...OBJECT_TRIGGER_EVENTS]);
      expect(events).not.toContain('oss:ObjectCreated:*');
      expect(events).not.toContain('oss:ObjectCreated:CopyObject');
    }
  });

  it('bucket function: EventBridge rules for bucket creation and the ActionTrail bucket calls', () => {
    const ts = triggers(fn('bucket-encryption'));
    expect(ts.map((t) => t.triggerType)).toEqual(['eventbridge', 'eventbridge']);
    const patterns = ts.map(patternOf);
    const created = patterns.find((p) => exactValues(p, ['type']).includes(BUCKET_CREATED_TYPE));
    expect(created).toEqual({ source: ['acs.oss'], type: [BUCKET_CREATED_TYPE] });
    const trail = patterns.find((p) => exactValues(p, ['data', 'eventName']).length > 0);
    expect(exactValues(trail, ['data', 'eventName']).sort()).toEqual([...BUCKET_ACTION_TRAIL_EVENTS].sort());
    for (const t of ts) expect(objectAt(t.triggerConfig, 'triggerConfig').asyncInvocationType).toBe(true);
  });

  it("bucket function's rules match exactly the events shared/triggers.ts accepts", () => {
    const patterns = triggers(fn('bucket-encryption')).map(patternOf);
    const matchesRule = (e: unknown): boolean => patterns.some((p) => patternMatches(p, e));
    const fixtures = readdirSync(join(REPO_ROOT, 'test', 'fixtures', 'events'))
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'events', f), 'utf8')) as unknown);
    const envelope = (type: string, data: unknown) => ({ source: 'acs.oss', type, data });
    const synthetic = [
      envelope(BUCKET_CREATED_TYPE, {}),
      envelope('oss:BucketRemoved:DeleteBucket', {}),
      envelope('oss:ObjectCreated:PutObject', {}),
      ...['oss:ActionTrail:ApiCall', 'oss:ActionTrail:ConsoleOperation', 'acs.oss:ActionTrail:ApiCall'].flatMap((type) =>
        [...BUCKET_ACTION_TRAIL_EVENTS, 'PutBucketAcl', 'DeleteBucket'].map((eventName) => envelope(type, { eventName })),
      ),
    ];
    const cloudEvents = [...fixtures, ...synthetic].filter(
      (e): e is { type: string; source?: string; data?: unknown } =>
        isObject(e as YamlValue) && typeof (e as { type?: unknown }).type === 'string',
    );
    expect(cloudEvents.length).toBeGreaterThan(synthetic.length);
    let accepted = 0;
    for (const e of cloudEvents) {
      // The rules also pin source acs.oss; the code does not look at source.
      const codeAccepts = bucketTriggerMatches(e) && e.source === 'acs.oss';
      expect({ type: e.type, name: (e.data as { eventName?: unknown } | undefined)?.eventName, rule: matchesRule(e) }).toEqual({
        type: e.type,
        name: (e.data as { eventName?: unknown } | undefined)?.eventName,
        rule: codeAccepts,
      });
      if (codeAccepts) accepted++;
    }
    expect(accepted).toBeGreaterThanOrEqual(2 * BUCKET_ACTION_TRAIL_EVENTS.length + 1);
  });

  it('backfill has no trigger at all, and no function has an HTTP trigger', () => {
    expect(fn('backfill').triggers).toBeUndefined();
    for (const key of FUNCTION_KEYS) for (const t of triggers(fn(key))) expect(t.triggerType).not.toBe('http');
  });

  it('sets only variables config.ts knows, all functions alike, and loadConfig accepts them', () => {
    const envs = FUNCTION_KEYS.map((key) => objectAt(fn(key).environmentVariables, 'environmentVariables'));
    for (const env of envs) {
      expect(env).toEqual(envs[0]);
      expect(Object.keys(env).filter((k) => !CONFIG_VARIABLES.includes(k))).toEqual([]);
      for (const v of Object.values(env)) expect(typeof v).toBe('string');
    }
    const env = envs[0] as Record<string, string>;
    const config = loadConfig(env);
    expect(config.SSE_ALGORITHM).toBe(env.SSE_ALGORITHM);
    expect(config.STATE_BUCKET).toBeDefined(); // the backfill refuses to start without it
  });

  it('takes the region and the state bucket from the environment when set', () => {
    const r = renderSYaml(raw, {
      env: { ALIBABA_CLOUD_REGION_ID: 'cn-shanghai', OSS_SSE_STATE_BUCKET: 'acme-sse-state' },
      config: { AccountID: ACCOUNT },
    });
    const props = functionResource(r, FUNCTIONS['object-encryption']).props;
    expect(props.region).toBe('cn-shanghai');
    for (const t of triggers(props)) expect(String(t.sourceArn)).toMatch(/^acs:oss:cn-shanghai:/);
    expect(objectAt(props.environmentVariables, 'env').STATE_BUCKET).toBe('acme-sse-state');
    expect(schemaErrors(validateProps, props)).toEqual([]);
  });

  it('rejects references it cannot render', () => {
    const bad = (s: string) => () =>
      renderSYaml({ ...raw, vars: { region: 'cn-hangzhou' }, resources: { x: { component: 'fc3', props: { a: s } } } }, { env: {} });
    expect(bad('${vars.nope}')).toThrow(/names no var/);
    expect(bad("${env('OSS_SSE_UNSET_FOR_TEST')}")).toThrow(/not set/);
    expect(bad('${file(./x)}')).toThrow(/unsupported/);
    expect(bad("${config('AccountID')}")).toThrow(/needs config AccountID/);
  });
});

describe('deploy/options.yaml (documented alternatives)', () => {
  const options = objectAt(
    renderSYaml(
      { vars: raw.vars ?? {}, resources: { options: loadSYaml(join(REPO_ROOT, 'deploy', 'options.yaml')) } },
      { env: {}, config: { AccountID: ACCOUNT } },
    ).resources,
    'resources',
  );
  const o = objectAt(options.options, 'options');

  it('the EventBridge object trigger is a valid fc3 trigger on exactly the upload events', () => {
    const t = objectAt(o.objectEventBridgeTrigger, 'objectEventBridgeTrigger');
    expect(schemaErrors(validateTrigger, t)).toEqual([]);
    expect(schemaErrors(validateEventBridge, t.triggerConfig)).toEqual([]);
    const pattern = patternOf(t);
    expect(exactValues(pattern, ['type'])).toEqual([...OBJECT_TRIGGER_EVENTS]);
    const fixture = JSON.parse(
      readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'events', 'eventbridge-object-created.json'), 'utf8'),
    ) as unknown;
    expect(patternMatches(pattern, fixture)).toBe(true);
    expect(patternMatches(pattern, { source: 'acs.oss', type: 'oss:ObjectCreated:CopyObject' })).toBe(false);
    expect(patternMatches(pattern, { source: 'acs.oss', type: 'oss:ObjectCreated:UploadPart' })).toBe(false);
  });

  it('the failure destination is a valid asyncInvokeConfig', () => {
    const c = objectAt(o.asyncInvokeConfigWithOnFailure, 'asyncInvokeConfigWithOnFailure');
    expect(schemaErrors(validateAsyncInvokeConfig, c)).toEqual([]);
    const dest = objectAt(objectAt(c.destinationConfig, 'destinationConfig').onFailure, 'onFailure').destination;
    expect(dest).toBe(`acs:mns:cn-hangzhou:${ACCOUNT}:/queues/oss-sse-failures/messages`);
  });
});

describe('s preview (Serverless Devs itself, offline)', () => {
  const bin = join(REPO_ROOT, 'node_modules', '.bin', process.platform === 'win32' ? 's.cmd' : 's');

  it('renders s.yaml the way deploy/s-yaml.ts does', () => {
    expect(existsSync(bin)).toBe(true);
    const home = mkdtempSync(join(tmpdir(), 'oss-sse-s-home-'));
    try {
      // No credentials and a fresh home: preview renders vars and env, and leaves ${config(…)} as written.
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? '',
        HOME: home,
        USERPROFILE: home,
        OSS_SSE_STATE_BUCKET: 'preview-state',
      };
      const res = spawnSync(bin, ['preview', '-o', 'json'], { cwd: REPO_ROOT, env, encoding: 'utf8', timeout: 60_000 });
      expect(res.status, res.stderr).toBe(0);
      // As root, s prints a warning line on stdout before the document.
      const start = res.stdout.indexOf('\n{');
      const json = res.stdout.startsWith('{') ? res.stdout : res.stdout.slice(start + 1);
      const preview = JSON.parse(json) as YamlObject;
      const ours = renderSYaml(raw, { env: { OSS_SSE_STATE_BUCKET: 'preview-state' }, preview: true });
      expect(preview.resources).toEqual(ours.resources);
      expect(preview.vars).toEqual(ours.vars);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
