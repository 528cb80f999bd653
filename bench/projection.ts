/**
 * What the measured figures mean for a real bucket: objects per second and hours for 10^9
 * objects at OSS's 10,000 QPS per account, and the client cores that takes. On OSS the
 * server's CPU is not ours; what bounds a backfill is the request budget and the client's
 * own CPU:
 *
 *   objects/s = min(QPS / requestsPerObject, cores × 1000 / clientCpuMsPerObject)
 *   hours     = objects / (objects/s) / 3600
 *
 * with `cores` = 8: a job's shards at most by default, each an FC instance with its own core.
 * Each scenario also gives the QPS-bound rate alone and the client cores it would take
 * (objects/s × clientCpuMsPerObject / 1000).
 */
import { round } from './suite';

export const PROJECTION_QPS = 10_000;
export const PROJECTION_OBJECTS = 1e9;
export const PROJECTION_CLIENT_CORES = 8;
const COMPLIANT_SHARE = 0.99;

export interface ProjectionInput {
  listing: {
    requestsPerPlaintextObject: number;
    requestsPerCompliantObject: number;
    clientCpuMsPerPlaintextObject: number;
    clientCpuMsPerCompliantObject: number;
  };
  inventory: {
    requestsPerPlaintextObject: number;
    /** Reading the report, per object listed in it. */
    reportRequestsPerObject: number;
    /** Measured on a 99%-compliant bucket. */
    requestsPerObjectAt99Compliant: number;
    clientCpuMsPerObjectAt99Compliant: number;
    /** Measured on an all-plaintext report (no HEAD when the run's probe allows it). */
    clientCpuMsPerPlaintextObject: number;
  };
}

export interface Scenario {
  requestsPerObject: number;
  clientCpuMsPerObject: number;
  /** min(QPS / requestsPerObject, cores × 1000 / clientCpuMsPerObject). */
  objectsPerSec: number;
  hours: number;
  /** QPS / requestsPerObject: what the budget alone allows. */
  qpsBoundObjectsPerSec: number;
  /** 1000 / clientCpuMsPerObject: what one client core drives. */
  objectsPerSecPerClientCore: number;
  /** Cores to drive qpsBoundObjectsPerSec. */
  clientCoresNeeded: number;
}

export function scenario(requestsPerObject: number, clientCpuMsPerObject: number): Scenario {
  const qpsBound = PROJECTION_QPS / requestsPerObject;
  const perCore = 1000 / clientCpuMsPerObject;
  const objectsPerSec = Math.min(qpsBound, PROJECTION_CLIENT_CORES * perCore);
  return {
    requestsPerObject: round(requestsPerObject, 4),
    clientCpuMsPerObject: round(clientCpuMsPerObject, 3),
    objectsPerSec: Math.round(objectsPerSec),
    hours: round(PROJECTION_OBJECTS / objectsPerSec / 3600, 1),
    qpsBoundObjectsPerSec: Math.round(qpsBound),
    objectsPerSecPerClientCore: Math.round(perCore),
    clientCoresNeeded: round(qpsBound / perCore, 1),
  };
}

export function projectBackfill(m: ProjectionInput) {
  const { listing, inventory } = m;
  const mix = (compliant: number, plaintext: number): number => COMPLIANT_SHARE * compliant + (1 - COMPLIANT_SHARE) * plaintext;
  const scenarios = {
    listingAllPlaintext: scenario(listing.requestsPerPlaintextObject, listing.clientCpuMsPerPlaintextObject),
    inventoryAllPlaintext: scenario(
      inventory.requestsPerPlaintextObject + inventory.reportRequestsPerObject,
      inventory.clientCpuMsPerPlaintextObject,
    ),
    listing99Compliant: scenario(
      mix(listing.requestsPerCompliantObject, listing.requestsPerPlaintextObject),
      mix(listing.clientCpuMsPerCompliantObject, listing.clientCpuMsPerPlaintextObject),
    ),
    inventory99Compliant: scenario(inventory.requestsPerObjectAt99Compliant, inventory.clientCpuMsPerObjectAt99Compliant),
  };
  return {
    qps: PROJECTION_QPS,
    objects: PROJECTION_OBJECTS,
    clientCores: PROJECTION_CLIENT_CORES,
    formula: 'objects/s = min(qps / requestsPerObject, clientCores × 1000 / clientCpuMsPerObject); hours = objects / (objects/s) / 3600',
    hoursAllPlaintext: { listing: scenarios.listingAllPlaintext.hours, inventory: scenarios.inventoryAllPlaintext.hours },
    hours99Compliant: { listing: scenarios.listing99Compliant.hours, inventory: scenarios.inventory99Compliant.hours },
    objectsPerSec: {
      allPlaintext: { listing: scenarios.listingAllPlaintext.objectsPerSec, inventory: scenarios.inventoryAllPlaintext.objectsPerSec },
      compliant99: { listing: scenarios.listing99Compliant.objectsPerSec, inventory: scenarios.inventory99Compliant.objectsPerSec },
    },
    scenarios,
  };
}
