/** The oss-sse command line. Exit codes: see EXIT in cli/environment.ts and the README. */
import { Command, CommanderError } from 'commander';
import { backfillCommand, scanCommand } from './commands/backfill';
import { bucketCommand } from './commands/bucket';
import { doctorCommand } from './commands/doctor';
import { invokeCommand, statusCommand } from './commands/jobs';
import { localCommand } from './commands/local';
import { reportCommand } from './commands/report';
import { CliError, EXIT } from './environment';

const program = new Command('oss-sse')
  .description('keep every object in Alibaba Cloud OSS encrypted at rest')
  .showHelpAfterError()
  .addCommand(bucketCommand())
  .addCommand(scanCommand())
  .addCommand(backfillCommand())
  .addCommand(invokeCommand())
  .addCommand(statusCommand())
  .addCommand(reportCommand())
  .addCommand(doctorCommand())
  .addCommand(localCommand());

// Every subcommand reports usage errors through the same path (exit 2).
const exitOverride = (cmd: Command): void => {
  cmd.exitOverride();
  cmd.commands.forEach(exitOverride);
};
exitOverride(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // Help and version output exit 0; commander already printed the message otherwise.
    process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage);
  }
  const code = err instanceof CliError ? err.exitCode : EXIT.error;
  const e = err as { code?: string; message?: string; requestId?: string };
  const detail =
    err instanceof CliError
      ? e.message
      : `${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}${e.requestId ? ` [request ${e.requestId}]` : ''}`;
  process.stderr.write(`oss-sse: ${detail}\n`);
  process.exit(code);
});
