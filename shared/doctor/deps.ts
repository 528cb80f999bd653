/** What `oss-sse doctor` talks to (the project's ports) and what it checks against. */
import type { FcInvoker } from '../fc-invoke/port';
import type { KmsPort } from '../kms/port';
import type { OssPort } from '../oss/port';
import type { Policy } from '../policy';
import type { RolePolicy } from './role-policies';

export interface DoctorDeps {
  oss: OssPort;
  /** The request id of the last OSS request answered (OssHttpClient's onRequest): successful calls return none. */
  lastOssRequestId: () => string | undefined;
  kms: KmsPort;
  fc: FcInvoker;
  policy: Policy;
  region: string;
  accountId: string;
  /** Where each service is reached, as the report names them. */
  endpoints: { oss: string; kms: string; fc: string };
  /** The policies the functions' roles are deployed with (default: deploy/ram/). */
  rolePolicies: Readonly<Record<string, RolePolicy>>;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
  /** A random suffix for the keys the probes and the canary use. */
  randomId: () => string;
}

export interface DoctorOptions {
  /** Buckets to check; empty: those ListBuckets shows that BUCKET_INCLUDE/BUCKET_EXCLUDE select. */
  buckets: readonly string[];
  /** FC names of the functions to ping. */
  functions: readonly string[];
  canary?: { bucket: string; timeoutMs: number };
  /** At most this many buckets found by ListBuckets are checked. */
  maxBuckets: number;
}

/** Where the probes and the canary write (or pretend to): one prefix, easy to find and to exclude. */
export const DOCTOR_PREFIX = '.oss-sse-doctor/';
export const CANARY_PREFIX = '.oss-sse-canary/';
