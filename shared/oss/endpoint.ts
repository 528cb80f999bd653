/**
 * Where OSS requests go: the endpoint (OSS_ENDPOINT or the region's default) and how a
 * bucket is addressed on it.
 *
 * Hostname endpoints are virtual-hosted (`<bucket>.<host>`), as OSS requires for new
 * buckets. IP endpoints (the local stack, `http://127.0.0.1:PORT`) cannot carry the bucket
 * in DNS, so we connect to the IP and name the bucket in the Host header exactly as ali-oss
 * 6.23.0 does: `Host: <bucket>.oss-<region>.aliyuncs.com`. See docs/oss-behaviour.md#ali-oss-quirks.
 */
import { isIP } from 'node:net';

export interface OssEndpoint {
  protocol: 'http:' | 'https:';
  /** Host name or IP literal, without brackets or port. */
  host: string;
  port: number;
  /** True when the host is an IP (or localhost): the bucket goes in the Host header only. */
  ipStyle: boolean;
}

export interface OssEndpointInput {
  /** OSS_ENDPOINT: `http(s)://host[:port]` or `host[:port]` (then https). */
  endpoint?: string;
  /** `cn-hangzhou`; an `oss-` prefix (ali-oss style) is accepted and stripped. */
  region: string;
  /** Inside Function Compute: use the region's internal endpoint by default. */
  internal: boolean;
}

/** Where one request connects and what it sends as Host. */
export interface RequestTarget {
  protocol: 'http:' | 'https:';
  /** What the socket connects to (and the TLS server name). */
  connectHost: string;
  port: number;
  hostHeader: string;
}

/** `oss-cn-hangzhou` → `cn-hangzhou`. */
export function normalizeRegion(region: string): string {
  const r = region.trim();
  return r.startsWith('oss-') ? r.slice(4) : r;
}

export function resolveOssEndpoint(input: OssEndpointInput): OssEndpoint {
  const region = normalizeRegion(input.region);
  if (region === '') throw new Error('OSS region is empty');
  const raw = input.endpoint?.trim() || `https://oss-${region}${input.internal ? '-internal' : ''}.aliyuncs.com`;
  // A bare host[:port] is https: real OSS endpoints are, and http must be asked for explicitly.
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`OSS endpoint ${JSON.stringify(raw)} is not a URL or host[:port]`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`OSS endpoint ${JSON.stringify(raw)} must use http or https`);
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new Error(`OSS endpoint ${JSON.stringify(raw)} must not carry a path, query or credentials`);
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  // localhost has no `<bucket>.localhost` DNS either: address it like an IP. See docs/oss-behaviour.md#ali-oss-quirks.
  const ipStyle = isIP(host) !== 0 || host.toLowerCase() === 'localhost';
  return { protocol: url.protocol, host, port, ipStyle };
}

function withPort(host: string, ep: OssEndpoint): string {
  const defaultPort = ep.protocol === 'https:' ? 443 : 80;
  return ep.port === defaultPort ? host : `${host}:${ep.port}`;
}

/**
 * The target of a request for `bucket`, or of a service-level request (ListBuckets) when
 * bucket is undefined: the endpoint host itself, or for IP endpoints the public regional
 * host name `oss-<region>.aliyuncs.com` (no bucket label, so servers read it as service-level).
 */
export function requestTarget(ep: OssEndpoint, region: string, bucket: string | undefined): RequestTarget {
  if (ep.ipStyle) {
    const regional = `oss-${normalizeRegion(region)}.aliyuncs.com`;
    return {
      protocol: ep.protocol,
      connectHost: ep.host,
      port: ep.port,
      hostHeader: bucket === undefined ? regional : `${bucket}.${regional}`,
    };
  }
  const host = bucket === undefined ? ep.host : `${bucket}.${ep.host}`;
  return { protocol: ep.protocol, connectHost: host, port: ep.port, hostHeader: withPort(host, ep) };
}
