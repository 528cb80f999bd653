/** `oss-sse local`: runs the local stack on loopback until SIGINT/SIGTERM. */
import { Command, InvalidArgumentError } from 'commander';
import { resolve } from 'node:path';
import { startLocalStack } from '../../local/stack';

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('must be a port number 0-65535 (0 = any free port)');
  return n;
}

export const DEFAULT_ACCESS_KEY_ID = 'oss-sse-local';
export const DEFAULT_ACCESS_KEY_SECRET = 'oss-sse-local-secret';

export function localCommand(): Command {
  return new Command('local')
    .description('run the local OSS-compatible stack on 127.0.0.1 (prints one JSON ready line on stdout)')
    .option('--oss-port <port>', 'OSS server port (0 = any free port)', port, 0)
    .option('--data-dir <dir>', 'keep buckets and objects on disk here', './.oss-sse-data')
    .option('--memory', 'keep everything in memory (nothing survives a restart)')
    .option('--access-key-id <id>', 'access key id the stack accepts', DEFAULT_ACCESS_KEY_ID)
    .option('--access-key-secret <secret>', 'access key secret the stack accepts', DEFAULT_ACCESS_KEY_SECRET)
    .option('--region <region>', 'region the stack reports', 'cn-hangzhou')
    .option('--quiet', 'do not log requests to stderr')
    .action(
      async (opts: {
        ossPort: number;
        dataDir: string;
        memory?: boolean;
        accessKeyId: string;
        accessKeySecret: string;
        region: string;
        quiet?: boolean;
      }) => {
        const stack = await startLocalStack({
          ossPort: opts.ossPort,
          region: opts.region,
          accessKeyId: opts.accessKeyId,
          accessKeySecret: opts.accessKeySecret,
          dataDir: opts.memory ? undefined : resolve(opts.dataDir),
          log: opts.quiet ? undefined : (line) => process.stderr.write(`${line}\n`),
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
      },
    );
}
