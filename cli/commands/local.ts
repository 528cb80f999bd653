/** `oss-sse local`: runs the local stack on loopback until SIGINT/SIGTERM. */
import { Command, InvalidArgumentError } from 'commander';
import { resolve } from 'node:path';
import { startLocalStack } from '../../local/stack';
import { runDemo } from '../../local/demo';

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('must be a port number 0-65535 (0 = any free port)');
  return n;
}

export const DEFAULT_ACCESS_KEY_ID = 'oss-sse-local';
export const DEFAULT_ACCESS_KEY_SECRET = 'oss-sse-local-secret';

/** The functions' policy variables, passed from this process's environment to the functions it runs. */
const POLICY_VARIABLES = [
  'SSE_ALGORITHM',
  'KMS_KEY_ID',
  'KMS_DATA_ENCRYPTION',
  'COMPLIANCE',
  'BUCKET_INCLUDE',
  'BUCKET_EXCLUDE',
  'KEY_EXCLUDE_PREFIXES',
  'OVERRIDE_BUCKET_RULE',
  'MULTIPART_THRESHOLD_BYTES',
  'PART_SIZE_BYTES',
  'PART_CONCURRENCY',
  'PRESERVE_ACL',
  'DELETE_PLAINTEXT_VERSIONS',
  'OBJECT_EVENTS',
  'BUCKET_REENCRYPT_LIMIT',
  'STATE_PREFIX',
  'BACKFILL_CONCURRENCY',
];

interface LocalOptions {
  ossPort: number;
  kmsPort: number;
  fcPort: number;
  dataDir: string;
  memory?: boolean;
  accessKeyId: string;
  accessKeySecret: string;
  region: string;
  enforce: boolean;
  demo?: boolean;
  quiet?: boolean;
}

export function localCommand(): Command {
  return new Command('local')
    .description(
      'run the local OSS- and KMS-compatible stack on 127.0.0.1 with the functions enforcing the policy (prints one JSON ready line on stdout)',
    )
    .option('--oss-port <port>', 'OSS server port (0 = any free port)', port, 0)
    .option('--kms-port <port>', 'KMS server port (0 = any free port)', port, 0)
    .option('--fc-port <port>', 'Function Compute endpoint port (0 = any free port)', port, 0)
    .option('--data-dir <dir>', 'keep buckets and objects on disk here', './.oss-sse-data')
    .option('--memory', 'keep everything in memory (nothing survives a restart)')
    .option('--access-key-id <id>', 'access key id the stack accepts', DEFAULT_ACCESS_KEY_ID)
    .option('--access-key-secret <secret>', 'access key secret the stack accepts', DEFAULT_ACCESS_KEY_SECRET)
    .option('--region <region>', 'region the stack reports', 'cn-hangzhou')
    .option('--no-enforce', "do not run the functions on the stack's events")
    .option('--demo', 'after start-up, show each function at work (on stderr), then keep serving')
    .option('--quiet', 'do not log requests to stderr')
    .addHelpText(
      'after',
      `\nThe functions read their policy from these environment variables: ${POLICY_VARIABLES.join(', ')}.\n\nExamples:\n  oss-sse local --memory --demo\n  SSE_ALGORITHM=KMS KMS_KEY_ID=alias/oss-sse-default oss-sse local --data-dir ./data --oss-port 9000`,
    )
    .action(async (opts: LocalOptions) => {
      const functionEnv: Record<string, string> = {};
      for (const name of POLICY_VARIABLES) {
        const v = process.env[name];
        if (v !== undefined) functionEnv[name] = v;
      }
      const stack = await startLocalStack({
        ossPort: opts.ossPort,
        kmsPort: opts.kmsPort,
        fcPort: opts.fcPort,
        region: opts.region,
        accessKeyId: opts.accessKeyId,
        accessKeySecret: opts.accessKeySecret,
        dataDir: opts.memory ? undefined : resolve(opts.dataDir),
        enforce: opts.enforce,
        functionEnv,
        log: opts.quiet || opts.demo ? undefined : (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(`${stack.readyLine()}\n`);
      let stopping = false;
      const stop = (): void => {
        if (stopping) return;
        stopping = true;
        void stack.close().then(() => process.exit(0));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      if (opts.demo) await runDemo(stack, (line) => process.stderr.write(`${line}\n`));
    });
}
