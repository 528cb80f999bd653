// Writes docs/report.schema.json: report.json's JSON Schema, generated from the zod schema
// (shared/report/schema.ts) so tools without zod can validate a report. A unit test fails while
// the file is stale: `npx tsx scripts/report-schema.ts` refreshes it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { reportJsonSchema } from '../shared/report/schema';

writeFileSync(join(__dirname, '..', 'docs', 'report.schema.json'), `${JSON.stringify(reportJsonSchema(), null, 2)}\n`);
