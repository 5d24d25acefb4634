//! Pure protocol parsers for Loupe: bytes of a connection in, request/response records out.
//!
//! Each protocol lives in its own folder (`http/`, ...) with its framing, stitching and tests.
//! The parsers do no I/O, never block and never panic on input: every length that the wire
//! controls is bounded, and lost or malformed bytes are counted, not fatal.

#[cfg(test)]
mod capture_file;
pub mod dns;
pub mod http;
pub mod mysql;
pub mod normalize;
pub mod pgsql;
pub mod redis;
#[cfg(test)]
mod resplit;

/// Which stream of a connection bytes belong to.
///
/// `Request` is the client-to-server direction, `Response` the server-to-client one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// Bytes sent by the client.
    Request,
    /// Bytes sent by the server.
    Response,
}
