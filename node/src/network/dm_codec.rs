//! The request/response codec of `/weft/dm/1`: one frame each way (see
//! `weft_proto::codec`), request capped at [`MAX_DM_FRAME_BYTES`]. A frame that is too large
//! is refused from its length header, before its body is read.
//!
//! A request that cannot be decoded is not an I/O error here but a value,
//! [`DmRequest::Refused`]: request-response drops `read_request` errors silently, and the
//! event loop must see who sent garbage to count it and drop the connection.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response::Codec;
use weft_proto::DecodeError;
use weft_proto::codec::{check_frame_len, frame};
use weft_proto::dm::{DirectMessage, DmAck};
use weft_proto::limits::MAX_DM_FRAME_BYTES;

/// The protocol id.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/dm/1");

/// Largest acknowledgement frame.
const MAX_ACK_FRAME_BYTES: usize = 1024;

/// A `/weft/dm/1` request as read off the wire.
#[derive(Debug)]
pub enum DmRequest {
    /// A well-formed direct message (its id and sender are checked by the event loop).
    Message(DirectMessage),
    /// A frame that was refused, and why.
    Refused(DecodeError),
}

/// The `/weft/dm/1` codec.
#[derive(Clone, Copy, Debug, Default)]
pub struct DmCodec;

impl Codec for DmCodec {
    type Protocol = StreamProtocol;
    type Request = DmRequest;
    type Response = DmAck;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<DmRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        let body = match read_frame(io, "direct message", MAX_DM_FRAME_BYTES).await? {
            Ok(body) => body,
            Err(refused) => return Ok(DmRequest::Refused(refused)),
        };
        Ok(match DirectMessage::decode(&body) {
            Ok(message) => DmRequest::Message(message),
            Err(refused) => DmRequest::Refused(refused),
        })
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<DmAck>
    where
        T: AsyncRead + Unpin + Send,
    {
        let body = read_frame(io, "acknowledgement", MAX_ACK_FRAME_BYTES)
            .await?
            .map_err(invalid)?;
        DmAck::decode(&body).map_err(invalid)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: DmRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        match req {
            DmRequest::Message(m) => write_frame(io, &m.encode().map_err(invalid)?).await,
            DmRequest::Refused(e) => Err(io::Error::new(io::ErrorKind::InvalidInput, e)),
        }
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: DmAck,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res.encode().map_err(invalid)?).await
    }
}

fn invalid(e: DecodeError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Reads one frame: an I/O error, or the body, or the reason it was refused (too large,
/// decided from the header alone).
async fn read_frame<T: AsyncRead + Unpin>(
    io: &mut T,
    what: &'static str,
    max: usize,
) -> io::Result<Result<Vec<u8>, DecodeError>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if let Err(refused) = check_frame_len(what, len, max) {
        return Ok(Err(refused));
    }
    let mut body = vec![0u8; len];
    io.read_exact(&mut body).await?;
    Ok(Ok(body))
}

async fn write_frame<T: AsyncWrite + Unpin>(io: &mut T, body: &[u8]) -> io::Result<()> {
    io.write_all(&frame(body)).await?;
    io.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::Cursor;

    fn refused_reason(request: DmRequest) -> &'static str {
        match request {
            DmRequest::Refused(e) => e.reason(),
            DmRequest::Message(m) => panic!("accepted {m:?}"),
        }
    }

    #[tokio::test]
    async fn round_trips_and_refuses_oversize_from_the_header() {
        let m = DirectMessage::new(b"a", b"b", 1, "hello".into());
        let mut buf = Vec::new();
        DmCodec
            .write_request(
                &PROTOCOL,
                &mut Cursor::new(&mut buf),
                DmRequest::Message(m.clone()),
            )
            .await
            .unwrap();
        match DmCodec
            .read_request(&PROTOCOL, &mut Cursor::new(&buf))
            .await
            .unwrap()
        {
            DmRequest::Message(back) => assert_eq!(back, m),
            other => panic!("{other:?}"),
        }

        // Only the header is sent: the refusal must not wait for a body.
        let huge = (MAX_DM_FRAME_BYTES as u32 + 1).to_be_bytes();
        let read = DmCodec
            .read_request(&PROTOCOL, &mut Cursor::new(&huge[..]))
            .await
            .unwrap();
        assert_eq!(refused_reason(read), "oversize");

        let garbage = frame(b"\xff\x00garbage");
        let read = DmCodec
            .read_request(&PROTOCOL, &mut Cursor::new(&garbage))
            .await
            .unwrap();
        assert_eq!(refused_reason(read), "malformed");
    }
}
