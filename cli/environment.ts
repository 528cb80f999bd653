/**
 * What every CLI command that talks to Alibaba Cloud needs: credentials from the standard
 * environment variables, the region, endpoints, the policy, and the exit codes.
 */
import { Command, Option } from 'commander';
import { checkSseKey, createKmsPort } from '../shared/kms';
import { createLogger, type Logger } from '../shared/log';
import { OssHttpClient } from '../shared/oss/http-client';
import { policyFromConfig, type Policy } from '../shared/policy';
import type { Credentials } from '../shared/signing';
import { ConfigError, loadConfig } from '../shared/validation/config';

/** Documented exit codes (README "CLI"). */
export const EXIT = {
  ok: 0,
  /** A fatal error: missing bucket, missing permission, bad configuration. */
  error: 1,
  /** Bad command line. */
  usage: 2,
  /** scan: remediable objects are not compliant; backfill: some objects failed. */
  nonCompliant: 3,
  /** Interrupted (Ctrl-C); the checkpoint was written. */
  interrupted: 130,
} as const;

export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT.error,
  ) {
    super(message);
  }
}

export interface CloudOptions {
  region?: string;
  endpoint?: string;
  algorithm?: string;
  kmsKeyId?: string;
  kmsDataEncryption?: string;
  compliance?: string;
}

/** --region / --endpoint and, unless `policyFlags: false`, the policy flags, on any command that needs them. */
export function withCloudOptions(cmd: Command, opts: { policyFlags: boolean } = { policyFlags: true }): Command {
  cmd
    .option('--region <region>', 'region, e.g. cn-hangzhou (default $ALIBABA_CLOUD_REGION_ID)')
    .option('--endpoint <url>', "OSS endpoint URL or host[:port] (default $OSS_ENDPOINT, else the region's public endpoint)");
  if (opts.policyFlags) {
    cmd
      .addOption(
        new Option('--algorithm <alg>', 'SSE algorithm the policy demands (default $SSE_ALGORITHM or AES256)').choices([
          'AES256',
          'KMS',
          'SM4',
        ]),
      )
      .option('--kms-key-id <id>', 'KMS key id, alias/<name> or ARN (default $KMS_KEY_ID)')
      .addOption(new Option('--kms-data-encryption <alg>', 'KMS data encryption (default $KMS_DATA_ENCRYPTION)').choices(['SM4']))
      .addOption(
        new Option(
          '--compliance <mode>',
          'any: any SSE is compliant; exact: algorithm and key must match (default $COMPLIANCE or any)',
        ).choices(['any', 'exact']),
      );
  }
  return cmd;
}

export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): Credentials {
  const accessKeyId = env.ALIBABA_CLOUD_ACCESS_KEY_ID;
  const accessKeySecret = env.ALIBABA_CLOUD_ACCESS_KEY_SECRET;
  if (!accessKeyId || !accessKeySecret) {
    throw new CliError(
      'Set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN for STS credentials).',
    );
  }
  const securityToken = env.ALIBABA_CLOUD_SECURITY_TOKEN;
  return { accessKeyId, accessKeySecret, ...(securityToken ? { securityToken } : {}) };
}

export function regionFrom(opts: CloudOptions, env: NodeJS.ProcessEnv = process.env): string {
  const region = opts.region ?? env.ALIBABA_CLOUD_REGION_ID;
  if (!region) throw new CliError('Set the region with --region or ALIBABA_CLOUD_REGION_ID (e.g. cn-hangzhou).', EXIT.usage);
  return region.replace(/^oss-/, '');
}

/** The same policy the functions use, from the environment, with command-line flags on top. */
export function policyFrom(
  opts: CloudOptions,
  env: NodeJS.ProcessEnv = process.env,
): { policy: Policy; config: ReturnType<typeof loadConfig> } {
  const merged: Record<string, string | undefined> = { ...env };
  if (opts.algorithm) merged.SSE_ALGORITHM = opts.algorithm;
  if (opts.kmsKeyId) merged.KMS_KEY_ID = opts.kmsKeyId;
  if (opts.kmsDataEncryption) merged.KMS_DATA_ENCRYPTION = opts.kmsDataEncryption;
  if (opts.compliance) merged.COMPLIANCE = opts.compliance;
  try {
    const config = loadConfig(merged);
    return { policy: policyFromConfig(config), config };
  } catch (e) {
    if (e instanceof ConfigError) throw new CliError(e.message, EXIT.usage);
    throw e;
  }
}

/** Outside Function Compute the CLI reaches KMS on the region's public endpoint, not the VPC one. */
export const publicKmsEndpoint = (region: string): string => `https://kms.${region}.aliyuncs.com`;

/**
 * The policy's KMS key id as OSS will report it (an alias or ARN resolved with DescribeKey),
 * after checking the key can be used; undefined when the policy names no key. A key that
 * cannot be used stops the command before anything changes.
 */
export async function resolvePolicyKey(ctx: CloudContext, policy: Policy, kmsEndpoint: string | undefined): Promise<string | undefined> {
  const keyRef = policy.target.algorithm === 'KMS' ? policy.target.keyId : undefined;
  if (keyRef === undefined) return undefined;
  const kms = createKmsPort({
    region: ctx.region,
    endpoint: kmsEndpoint ?? publicKmsEndpoint(ctx.region),
    credentials: () => ctx.credentials,
  });
  const check = await checkSseKey(kms, keyRef, policy.target.dataEncryption ? { dataEncryption: policy.target.dataEncryption } : {});
  if (!check.ok) throw new CliError(`KMS key ${keyRef} cannot be used: ${check.message}. Nothing was changed: no bucket rule, no object.`);
  return check.keyId;
}

export interface CloudContext {
  credentials: Credentials;
  region: string;
  oss: OssHttpClient;
  log: Logger;
}

/** Clients for a command; decision lines go to stderr only with --verbose (stdout is for results). */
export function cloudContext(opts: CloudOptions & { verbose?: boolean }, env: NodeJS.ProcessEnv = process.env): CloudContext {
  const credentials = credentialsFromEnv(env);
  const region = regionFrom(opts, env);
  const endpoint = opts.endpoint ?? env.OSS_ENDPOINT;
  const oss = new OssHttpClient({ ...(endpoint ? { endpoint } : {}), region, credentials: () => credentials });
  const log = createLogger({
    write: opts.verbose ? (line) => process.stderr.write(`${line}\n`) : () => undefined,
    secrets: () => [credentials.accessKeySecret, credentials.securityToken, credentials.accessKeyId],
  });
  return { credentials, region, oss, log };
}
