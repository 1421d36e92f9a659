//! The request/response codec of `/weft/dm/1`: one frame each way (see
//! `weft_proto::codec`), request capped at [`MAX_DM_FRAME_BYTES`]. A frame that is too large
//! is refused from its length header, before its body is read. Decode failures surface as
//! `io::ErrorKind::InvalidData` wrapping the [`DecodeError`], so the event loop can count
//! them by reason.

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

/// The `/weft/dm/1` codec.
#[derive(Clone, Copy, Debug, Default)]
pub struct DmCodec;

impl Codec for DmCodec {
    type Protocol = StreamProtocol;
    type Request = DirectMessage;
    type Response = DmAck;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<DirectMessage>
    where
        T: AsyncRead + Unpin + Send,
    {
        let body = read_frame(io, "direct message", MAX_DM_FRAME_BYTES).await?;
        DirectMessage::decode(&body).map_err(invalid)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<DmAck>
    where
        T: AsyncRead + Unpin + Send,
    {
        let body = read_frame(io, "acknowledgement", MAX_ACK_FRAME_BYTES).await?;
        DmAck::decode(&body).map_err(invalid)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: DirectMessage,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req.encode().map_err(invalid)?).await
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

/// The decode error inside an I/O error from this codec, if that is what it is.
pub fn decode_error(e: &io::Error) -> Option<&DecodeError> {
    e.get_ref()?.downcast_ref::<DecodeError>()
}

fn invalid(e: DecodeError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

async fn read_frame<T: AsyncRead + Unpin>(
    io: &mut T,
    what: &'static str,
    max: usize,
) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    check_frame_len(what, len, max).map_err(invalid)?;
    let mut body = vec![0u8; len];
    io.read_exact(&mut body).await?;
    Ok(body)
}

async fn write_frame<T: AsyncWrite + Unpin>(io: &mut T, body: &[u8]) -> io::Result<()> {
    io.write_all(&frame(body)).await?;
    io.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::Cursor;

    #[tokio::test]
    async fn round_trips_and_refuses_oversize_from_the_header() {
        let m = DirectMessage::new(b"a", b"b", 1, "hello".into());
        let mut buf = Vec::new();
        DmCodec
            .write_request(&PROTOCOL, &mut Cursor::new(&mut buf), m.clone())
            .await
            .unwrap();
        let back = DmCodec
            .read_request(&PROTOCOL, &mut Cursor::new(&buf))
            .await
            .unwrap();
        assert_eq!(back, m);

        let huge = (MAX_DM_FRAME_BYTES as u32 + 1).to_be_bytes();
        let err = DmCodec
            .read_request(&PROTOCOL, &mut Cursor::new(&huge[..]))
            .await
            .unwrap_err();
        assert_eq!(decode_error(&err).map(|e| e.reason()), Some("oversize"));

        let garbage = frame(b"\xff\x00garbage");
        let err = DmCodec
            .read_request(&PROTOCOL, &mut Cursor::new(&garbage))
            .await
            .unwrap_err();
        assert_eq!(decode_error(&err).map(|e| e.reason()), Some("malformed"));
    }
}
