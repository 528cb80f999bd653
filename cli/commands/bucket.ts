/** `oss-sse bucket get|put|delete <bucket>`: a bucket's default encryption rule. */
import { Command } from 'commander';
import type { SseSpec } from '../../shared/oss/port';
import { isValidBucketName } from '../../shared/validation/names';
import { CliError, cloudContext, EXIT, policyFrom, resolvePolicyKey, withCloudOptions, type CloudOptions } from '../environment';

function bucketArg(name: string): string {
  if (!isValidBucketName(name)) {
    throw new CliError(
      `"${name}" is not a valid bucket name (3-63 lower-case letters, digits and hyphens, no hyphen at either end)`,
      EXIT.usage,
    );
  }
  return name;
}

const show = (rule: SseSpec | undefined) => (rule ? rule : { algorithm: 'none' });

export function bucketCommand(): Command {
  const cmd = new Command('bucket').description("read, set or delete a bucket's default encryption rule");

  cmd.addCommand(
    withCloudOptions(new Command('get').argument('<bucket>').description("print the bucket's default encryption rule as JSON"), {
      policyFlags: false,
    })
      .addHelpText('after', '\nExample:\n  oss-sse bucket get my-bucket --region cn-hangzhou')
      .action(async (bucket: string, opts: CloudOptions) => {
        const { oss } = cloudContext(opts);
        process.stdout.write(`${JSON.stringify({ bucket: bucketArg(bucket), rule: show(await oss.getBucketEncryption(bucket)) })}\n`);
      }),
  );

  cmd.addCommand(
    withCloudOptions(
      new Command('put')
        .argument('<bucket>')
        .description('set the default encryption rule (a KMS key is validated with DescribeKey first)'),
    )
      .addHelpText(
        'after',
        '\nExamples:\n  oss-sse bucket put my-bucket --algorithm AES256\n  oss-sse bucket put my-bucket --algorithm KMS --kms-key-id alias/prod --kms-data-encryption SM4',
      )
      .action(async (bucket: string, opts: CloudOptions) => {
        bucketArg(bucket);
        const { policy, config } = policyFrom(opts);
        const ctx = cloudContext(opts);
        const rule: SseSpec = { algorithm: policy.target.algorithm };
        const keyId = await resolvePolicyKey(ctx, policy, config.KMS_ENDPOINT);
        if (keyId) rule.keyId = keyId;
        if (policy.target.dataEncryption) rule.dataEncryption = policy.target.dataEncryption;
        await ctx.oss.putBucketEncryption(bucket, rule);
        const after = await ctx.oss.getBucketEncryption(bucket);
        process.stdout.write(`${JSON.stringify({ bucket, rule: show(after) })}\n`);
      }),
  );

  cmd.addCommand(
    withCloudOptions(new Command('delete').argument('<bucket>').description('delete the default encryption rule'), { policyFlags: false })
      .addHelpText('after', '\nExample:\n  oss-sse bucket delete my-bucket')
      .action(async (bucket: string, opts: CloudOptions) => {
        const { oss } = cloudContext(opts);
        await oss.deleteBucketEncryption(bucketArg(bucket));
        process.stdout.write(`${JSON.stringify({ bucket, rule: show(await oss.getBucketEncryption(bucket)) })}\n`);
      }),
  );
  return cmd;
}
