/**
 * Types for the part of @alicloud/fc2 2.6.6 this project uses (the package ships none).
 * Read from its lib/client.js; CommonJS, `module.exports = Client`.
 */
declare module '@alicloud/fc2' {
  export interface Fc2Config {
    accessKeyID: string;
    accessKeySecret: string;
    /** Only sent when accessKeyID starts with "STS" (see Client.securityToken). */
    securityToken?: string;
    region: string;
    /** Full URL (`http://127.0.0.1:9000`); default `http(s)://<account>.<region>[-internal].fc.aliyuncs.com`. */
    endpoint?: string;
    secure?: boolean;
    internal?: boolean;
    /** ms for the whole request (httpx); default 60000. */
    timeout?: number;
    headers?: Record<string, string>;
  }

  export interface Fc2Response {
    headers: Record<string, string | string[] | undefined>;
    /** Parsed JSON when the response's content-type is application/json, else the body text (or a Buffer with rawBuf). */
    data: unknown;
  }

  /** What request() throws for a non-2xx answer: name `FC<ErrorCode>Error`, code = body.ErrorCode. */
  export interface Fc2Error extends Error {
    code?: string;
  }

  class Client {
    constructor(accountid: string, config: Fc2Config);
    accountid: string;
    accessKeyID: string;
    /** Read by buildHeaders() for every request: x-fc-security-token when set. */
    securityToken?: string;
    endpoint: string;
    host: string;
    /** The API version prefixed to every path: '2016-08-15' by default, '2023-03-30' for FC 3.0. */
    version: string;
    timeout: number;
    request(
      method: string,
      path: string,
      query: Record<string, string | string[]> | null,
      body: Buffer | string | object | null,
      headers?: Record<string, string>,
      opts?: { rawBuf?: boolean },
    ): Promise<Fc2Response>;
    get(path: string, query?: Record<string, string | string[]> | null, headers?: Record<string, string>): Promise<Fc2Response>;
    invokeFunction(
      serviceName: string,
      functionName: string,
      event: Buffer | string | null,
      headers?: Record<string, string>,
      qualifier?: string,
      opts?: { rawBuf?: boolean },
    ): Promise<Fc2Response>;
    static getSignature(
      accessKeyID: string,
      accessKeySecret: string,
      method: string,
      path: string,
      headers: Record<string, string>,
      queries?: Record<string, string | string[]> | null,
    ): string;
  }

  export default Client;
}
