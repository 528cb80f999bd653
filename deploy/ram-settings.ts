/**
 * The inputs of the functions' policies that come from s.yaml (rendered): configuration,
 * buckets per function, function names. Apart from deploy/ram-policy.ts so that the policy
 * builder itself reads no file (the local stack bundles it).
 */
import { loadConfig } from '../shared/validation/config';
import { FUNCTION_KEYS, FUNCTIONS, type DeploySettings, type FunctionKey } from './ram-policy';
import { arrayAt, functionResource, objectAt, stringAt, type YamlObject } from './s-yaml';

function triggersOf(props: YamlObject): YamlObject[] {
  if (props.triggers === undefined) return [];
  return arrayAt(props.triggers, 'triggers').map((t, i) => objectAt(t, `triggers[${i}]`));
}

/** The bucket an OSS trigger watches: the last field of `acs:oss:<region>:<account>:<bucket>`. */
export function ossTriggerBucket(trigger: YamlObject): string {
  const arn = stringAt(trigger.sourceArn, 'an OSS trigger sourceArn');
  const m = /^acs:oss:[^:]*:[^:]*:([a-z0-9][a-z0-9-]{1,61}[a-z0-9])$/.exec(arn);
  if (!m) throw new Error(`s.yaml: OSS trigger sourceArn ${arn} does not end in a bucket name`);
  return m[1] as string;
}

/** Settings from a rendered s.yaml (see renderSYaml); `accountId` goes into the ARNs. */
export function settingsFromSYaml(rendered: YamlObject, accountId: string): DeploySettings {
  if (!/^(\*|[0-9]{5,32})$/.test(accountId)) throw new Error(`not an account id: ${accountId}`);
  const vars = objectAt(rendered.vars, 'vars');
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(objectAt(vars.environment, 'vars.environment'))) env[k] = stringAt(v, `vars.environment.${k}`);
  const config = loadConfig(env);
  const include = config.BUCKET_INCLUDE.length > 0 ? [...config.BUCKET_INCLUDE] : ['*'];
  const objectProps = functionResource(rendered, FUNCTIONS['object-encryption']).props;
  const objectTriggers = triggersOf(objectProps);
  const watched = objectTriggers.filter((t) => t.triggerType === 'oss').map(ossTriggerBucket);
  const accountWide = objectTriggers.some((t) => t.triggerType === 'eventbridge');
  const functionNames = {} as Record<FunctionKey, string>;
  for (const key of FUNCTION_KEYS)
    functionNames[key] = stringAt(functionResource(rendered, FUNCTIONS[key]).props.functionName, 'functionName');
  return {
    accountId,
    region: stringAt(vars.region, 'vars.region'),
    arnRegion: accountId === '*' ? '*' : stringAt(vars.region, 'vars.region'),
    config,
    buckets: {
      'bucket-encryption': include,
      'object-encryption': [...new Set([...watched, ...(accountWide ? include : [])])],
      backfill: include,
    },
    functionNames,
  };
}
