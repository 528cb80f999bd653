/**
 * One result of `oss-sse doctor`: what was checked, whether it passed, what was found, the
 * request id that shows it, and — when it failed — the fix in one sentence.
 */
import * as z from 'zod';

export const DoctorCheckSchema = z.strictObject({
  name: z.string().min(1),
  ok: z.boolean(),
  detail: z.string(),
  fix: z.string().optional(),
  requestId: z.string().optional(),
});
export type DoctorCheck = z.infer<typeof DoctorCheckSchema>;

/** What `oss-sse doctor --json` prints. */
export const DoctorReportSchema = z.strictObject({ checks: z.array(DoctorCheckSchema) });
export type DoctorReport = z.infer<typeof DoctorReportSchema>;

export function pass(name: string, detail: string, requestId?: string): DoctorCheck {
  return { name, ok: true, detail, ...(requestId ? { requestId } : {}) };
}

export function fail(name: string, detail: string, fix: string, requestId?: string): DoctorCheck {
  return { name, ok: false, detail, fix, ...(requestId ? { requestId } : {}) };
}

/** `✓ name: detail [request id]`, or `✗ name: detail [request id] — fix: …`: one line per check. */
export function formatCheck(c: DoctorCheck): string {
  const request = c.requestId ? ` [request ${c.requestId}]` : '';
  const fix = !c.ok && c.fix ? ` — fix: ${c.fix}` : '';
  return `${c.ok ? '✓' : '✗'} ${c.name}: ${c.detail}${request}${fix}`;
}
