//! gzip of whole response bodies, on the request's own thread.
//!
//! actix's `Compress` streams: a body over 1 KiB is handed to the blocking thread pool
//! and comes back in several writes, which costs a thread hop per response (milliseconds
//! on a busy machine) and, without TCP_NODELAY, a delayed-ACK stall. Every answer of this
//! API but the event streams is one in-memory buffer, so it is compressed here in one
//! go at the fast level (a page of 50 contacts: ~25 KiB of JSON, well under a
//! millisecond) and leaves as one write with its `Content-Length`. Streaming bodies (SSE)
//! are left as they are: they must reach the client as each event happens.
use actix_web::Error;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use std::cell::RefCell;

/// Bodies smaller than this are sent as they are: gzip would not pay for its header.
const MIN_BYTES: usize = 1024;

/// True when `Accept-Encoding` admits gzip (`gzip` or `*`, with a non-zero q).
fn accepts_gzip(value: &str) -> bool {
    let mut gzip = None;
    let mut any = None;
    for part in value.split(',') {
        let mut fields = part.split(';');
        let coding = fields
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let q = fields
            .filter_map(|f| f.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(q > 0.0),
            "*" => any = Some(q > 0.0),
            _ => {}
        }
    }
    gzip.or(any).unwrap_or(false)
}

thread_local! {
    /// One raw deflate compressor per thread, reset between bodies: a new one allocates
    /// and zeroes some 300 KiB of tables (and freeing them makes the allocator sweep
    /// its free lists), which cost more than compressing a page of 50 does.
    static DEFLATE: RefCell<Compress> = RefCell::new(Compress::new(Compression::fast(), false));
}

/// The gzip member (RFC 1952) of `body`: a header without name or time, the deflate
/// stream at the fast level, then the CRC-32 and length of `body`.
fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    // XFL 4: compressed at the fastest level; OS 255: unknown.
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255];
    let mut out = Vec::with_capacity(HEADER.len() + body.len() / 4 + 64);
    out.extend_from_slice(&HEADER);
    DEFLATE.with_borrow_mut(|deflate| {
        deflate.reset();
        loop {
            let read = deflate.total_in() as usize;
            let status = deflate
                .compress_vec(&body[read..], &mut out, FlushCompress::Finish)
                .map_err(std::io::Error::other)?;
            if status == Status::StreamEnd {
                return Ok::<(), std::io::Error>(());
            }
            // `compress_vec` writes only into spare capacity.
            out.reserve(out.capacity().max(4096));
        }
    })?;
    let mut crc = Crc::new();
    crc.update(body);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    // ISIZE is the length modulo 2^32.
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    Ok(out)
}

/// Compresses whole in-memory bodies with gzip when the client accepts it.
pub async fn compress(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let wants_gzip = req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(accepts_gzip);
    let res = next.call(req).await?.map_into_boxed_body();
    if res.headers().contains_key(header::CONTENT_ENCODING) {
        return Ok(res);
    }
    let (req, res) = res.into_parts();
    let (mut res, body) = res.into_parts();
    let bytes = match body.try_into_bytes() {
        Ok(bytes) => bytes,
        // A stream: sent as it comes.
        Err(stream) => return Ok(ServiceResponse::new(req, res.set_body(stream))),
    };
    if bytes.len() < MIN_BYTES {
        return Ok(ServiceResponse::new(req, res.set_body(BoxBody::new(bytes))));
    }
    // Compressed or not, this answer depends on Accept-Encoding: caches must key it so.
    res.headers_mut()
        .append(header::VARY, HeaderValue::from_static("accept-encoding"));
    if !wants_gzip {
        return Ok(ServiceResponse::new(req, res.set_body(BoxBody::new(bytes))));
    }
    let compressed = gzip(&bytes)?;
    res.headers_mut()
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    Ok(ServiceResponse::new(
        req,
        res.set_body(BoxBody::new(compressed)),
    ))
}

#[cfg(test)]
mod tests {
    use super::{accepts_gzip, gzip};
    use std::io::Read;

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    }

    #[test]
    fn bodies_compressed_one_after_another_each_decode_alone() {
        // The compressor is reused: a body must not depend on the one before. The
        // second one does not compress, so the output grows past its first estimate.
        let page = br#"{"id":"0192","given_name":"Crm","surname":"Person"}"#.repeat(500);
        let noise: Vec<u8> = (0..70_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for body in [&page[..], &noise[..], &page[..], b"", b"x"] {
            assert_eq!(gunzip(&gzip(body).unwrap()), body);
        }
        assert!(gzip(&page).unwrap().len() < page.len() / 10);
    }

    #[test]
    fn accept_encoding_admits_gzip_unless_refused() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("gzip, deflate, br"));
        assert!(accepts_gzip("br;q=1.0, gzip;q=0.8, *;q=0.1"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("*, gzip;q=0"));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip("br"));
        assert!(!accepts_gzip(""));
    }
}
