/**
 * The README's performance table from one run's results (bench/results/latest.md): paste it
 * over the table in README.md#performance after a run.
 */
export interface SummaryInput {
  date: string;
  node: string;
  quick: boolean;
  machine: { cpus: number; cpuModel: string; loadAverage1m: number };
  backfill: {
    objects: number;
    baselineObjects: number;
    concurrency: number;
    baseline: { objectsPerSec: number };
    oss_sse: {
      objectsPerSec: number;
      requestsPerPlaintextObject: number;
      requestsPerCompliantObject: number;
      requestsByOperation: Record<string, number>;
      clientCpuMsPerObject: { compliant: number; plaintext: number };
      clientCpuMsPerRequest: number;
      serverCpuMsPerRequest: number;
    };
    speedup: number;
    pipelineEfficiency: {
      latencyMs: number;
      speedup: number;
      idealSpeedup: number;
      efficiency: number;
      baselineRequestsPerObject: number;
      ossSseRequestsPerObject: number;
      serverCpuShare: number;
      clientCpuShare: number;
    };
  };
  inventory: { requestsPerObject: number; requestsPerPlaintextObject: number; requestsPerCompliantObject: number };
  qpsBudget: { q: number; latencyMs: number; utilization: number; throttled: number; requestsPerSecond: number[] };
  projection: {
    hoursAllPlaintext: { listing: number; inventory: number };
    hours99Compliant: { listing: number; inventory: number };
    objectsPerSec: { allPlaintext: { listing: number; inventory: number }; compliant99: { listing: number; inventory: number } };
    clientCores: number;
    scenarios: Record<string, { clientCoresNeeded: number }>;
  };
  memory: Record<string, number | boolean>;
  coldStart: { worstBundleMs: number; aliOssMs: number; ratio: number };
  multipartCopy: { sequentialSeconds: number; parallelSeconds: number; parallelSpeedup: number };
  events: { compliant: { eventsPerSec: number; requestsPerEvent: number }; plaintext: { eventsPerSec: number; requestsPerEvent: number } };
  ossServer: { serverCpuMsPerHead: number; serverCpuMsPerPut1KiB: number };
}

const n = (x: number, digits = 0): string => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

export function summaryMarkdown(r: SummaryInput): string {
  const b = r.backfill;
  const o = b.oss_sse;
  const pe = b.pipelineEfficiency;
  const q = r.qpsBudget;
  const p = r.projection;
  const ops = Object.entries(o.requestsByOperation)
    .sort((x, y) => y[1] - x[1])
    .map(([op, count]) => `${op} ${n(count)}`)
    .join(', ');
  const memSizes = Object.keys(r.memory)
    .filter((k) => k.startsWith('peakRssMB_'))
    .map((k) => `${n(Number(k.slice('peakRssMB_'.length)))}: ${r.memory[k]} MB`)
    .join(', ');
  const rows: Array<[string, string, string, string]> = [
    [
      'requests per plaintext object (listing)',
      n(o.requestsPerPlaintextObject, 3),
      '≤ 3.0',
      `OSS bills and rate-limits requests: ${n(o.requestsPerPlaintextObject, 2)} × objects to re-encrypt (first pass: ${ops})`,
    ],
    ['requests per compliant object (listing)', n(o.requestsPerCompliantObject, 4), '≤ 1.001', 'one HEAD each, plus a listing per 1,000'],
    [
      'requests per plaintext / compliant object (inventory)',
      `${n(r.inventory.requestsPerPlaintextObject, 3)} / ${n(r.inventory.requestsPerCompliantObject, 4)}`,
      '≤ 2.0 / ≤ 0.01',
      `plaintext: an all-plaintext report of the same size (GetObjectAcl + CopyObject each, a verifying HEAD per 1,000); a 99%-compliant bucket costs ${n(r.inventory.requestsPerObject, 4)} requests per object from its inventory report`,
    ],
    [
      'client CPU per object, compliant / plaintext',
      `${n(o.clientCpuMsPerObject.compliant, 3)} / ${n(o.clientCpuMsPerObject.plaintext, 3)} ms`,
      '',
      `one client core drives ${n(1000 / o.clientCpuMsPerObject.compliant)} compliant or ${n(1000 / o.clientCpuMsPerObject.plaintext)} plaintext objects/s`,
    ],
    [
      'client CPU per request (the backfill’s mix)',
      `${n(o.clientCpuMsPerRequest, 3)} ms`,
      '≤ 0.2',
      `one client core drives ${n(1000 / o.clientCpuMsPerRequest)} requests/s`,
    ],
    [
      `pipeline efficiency at ${pe.latencyMs} ms latency`,
      n(pe.efficiency, 2),
      '≥ 0.9',
      `speedup ${n(pe.speedup, 1)}× of an ideal ${n(pe.idealSpeedup, 1)}× (${b.concurrency} in flight × ${n(pe.baselineRequestsPerObject, 2)} / ${n(pe.ossSseRequestsPerObject, 2)} requests per object); CPU share server ${pe.serverCpuShare}, client ${pe.clientCpuShare}`,
    ],
    [
      `QPS budget: --qps ${q.q} against --qps-limit ${q.q}, ${q.latencyMs} ms latency`,
      `utilisation ${n(q.utilization, 3)}, ${q.throttled} throttled`,
      '≥ 0.9, 0',
      `per second: ${q.requestsPerSecond.join(' ')}`,
    ],
    [
      `10⁹ objects at 10,000 QPS on ${p.clientCores} client cores, all plaintext: listing / inventory`,
      `${n(p.hoursAllPlaintext.listing, 1)} h / ${n(p.hoursAllPlaintext.inventory, 1)} h`,
      '',
      `${n(p.objectsPerSec.allPlaintext.listing)} / ${n(p.objectsPerSec.allPlaintext.inventory)} objects/s; client cores the QPS alone would need: ${p.scenarios.listingAllPlaintext?.clientCoresNeeded} / ${p.scenarios.inventoryAllPlaintext?.clientCoresNeeded}`,
    ],
    [
      `10⁹ objects at 10,000 QPS on ${p.clientCores} client cores, 99% compliant: listing / inventory`,
      `${n(p.hours99Compliant.listing, 1)} h / ${n(p.hours99Compliant.inventory, 1)} h`,
      '',
      `${n(p.objectsPerSec.compliant99.listing)} / ${n(p.objectsPerSec.compliant99.inventory)} objects/s; client cores the QPS alone would need: ${p.scenarios.listing99Compliant?.clientCoresNeeded} / ${p.scenarios.inventory99Compliant?.clientCoresNeeded}`,
    ],
    [
      `backfill speedup at 5 ms, half plaintext (${n(b.objects)} objects; baseline ${n(b.baselineObjects)})`,
      `${n(b.speedup, 1)}×`,
      '',
      `${n(o.objectsPerSec)} vs ${n(b.baseline.objectsPerSec)} objects/s; bound by the local server's CPU (${n(o.serverCpuMsPerRequest, 3)} ms per request), not by OSS's`,
    ],
    [
      'peak RSS of `oss-sse backfill` by bucket size',
      `ratio ${r.memory.ratio}`,
      '≤ 1.25',
      `${memSizes}: memory does not grow with the bucket`,
    ],
    [
      'cold load of the worst function bundle vs ali-oss alone',
      `${n(r.coldStart.worstBundleMs, 1)} ms vs ${n(r.coldStart.aliOssMs, 1)} ms (ratio ${r.coldStart.ratio})`,
      '≤ 1.5',
      'added to every FC cold start',
    ],
    [
      'multipart copy, parts 8 at once vs one at a time',
      `${n(r.multipartCopy.parallelSpeedup, 1)}×`,
      '≥ 3',
      `${r.multipartCopy.parallelSeconds} s vs ${r.multipartCopy.sequentialSeconds} s for 64 parts`,
    ],
    [
      'object function, events/s (8 at a time), compliant / plaintext',
      `${n(r.events.compliant.eventsPerSec)} / ${n(r.events.plaintext.eventsPerSec)}`,
      '',
      `${r.events.compliant.requestsPerEvent} / ${r.events.plaintext.requestsPerEvent} requests per event`,
    ],
    [
      'local OSS server CPU per HEAD / per 1 KiB PUT',
      `${n(r.ossServer.serverCpuMsPerHead, 3)} / ${n(r.ossServer.serverCpuMsPerPut1KiB, 3)} ms`,
      '',
      'the emulator’s cost, not OSS’s: it bounds the 5 ms comparison on this machine',
    ],
  ];
  const escape = (s: string): string => s.replace(/\|/g, '\\|');
  return [
    `${r.quick ? '`npm run bench -- --quick`' : '`npm run bench`'}, ${r.date.slice(0, 10)}: ${r.machine.cpus} cores (${r.machine.cpuModel}), Node ${r.node.replace(/^v/, '')}, load average ${r.machine.loadAverage1m} at the start.`,
    '',
    '| figure | value | goal | what it means for a real bucket |',
    '| --- | --- | --- | --- |',
    ...rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
    '',
  ].join('\n');
}
