//! HTTP middleware of the service: the request log (request id, access log, request
//! metrics), CORS for browser frontends on other origins, and gzip of whole bodies.
pub mod compress;
pub mod cors;
pub mod request_log;
