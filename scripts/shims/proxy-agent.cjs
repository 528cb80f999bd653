// urllib (used by ali-oss and @alicloud/fc2) requires `proxy-agent` only when an HTTP proxy is
// configured through HTTP_PROXY/HTTPS_PROXY. oss-sse never uses a proxy, and the package is
// not installed: fail clearly instead of leaving an unresolved require in the bundle.
module.exports = function ProxyAgent() {
  throw new Error('oss-sse does not support HTTP proxies (proxy-agent is not bundled); unset HTTP_PROXY/HTTPS_PROXY');
};
