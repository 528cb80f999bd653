/** The oss-sse command line. */
import { Command } from 'commander';
import { localCommand } from './commands/local';

const program = new Command('oss-sse')
  .description('keep every object in Alibaba Cloud OSS encrypted at rest')
  .showHelpAfterError()
  .addCommand(localCommand());

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`oss-sse: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
