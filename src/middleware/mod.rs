//! HTTP middleware of the service: the request log (request id, access log, request
//! metrics) and CORS for browser frontends on other origins.
pub mod cors;
pub mod request_log;
