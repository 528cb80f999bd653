/** The built CLI (dist/, built by the global setup) as a child process, and the environment a stack's ready line gives it. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export const CLI_PATH = join(__dirname, '..', '..', 'dist', 'cli', 'oss-sse.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI bundle; resolves with its exit code and output (never rejects on a non-zero exit). */
export function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

/** What the README exports before `oss-sse invoke`/`doctor`: only the ready line's values (and PATH). */
export function readyLineEnv(
  ready: { oss: string; kms: string; fc: string; accountId: string },
  key: { accessKeyId: string; accessKeySecret: string; region: string },
): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'] ?? '',
    ALIBABA_CLOUD_ACCESS_KEY_ID: key.accessKeyId,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: key.accessKeySecret,
    ALIBABA_CLOUD_REGION_ID: key.region,
    ALIBABA_CLOUD_ACCOUNT_ID: ready.accountId,
    OSS_ENDPOINT: ready.oss,
    KMS_ENDPOINT: ready.kms,
    FC_ENDPOINT: ready.fc,
  };
}
